/** The text MariaDB's INET4 and INET6 columns give back for an address, as the server lays it out. Builds text only: no I/O. */

/** An IPv4 address's four octets, or undefined when `text` is no dotted quad (leading zeros allowed). */
function octets(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.map(Number);
}

/** The text an INET4 column holds `text` as (`001.002.003.004` is `1.2.3.4`), or undefined for no address. */
export function inet4Text(text: string): string | undefined {
  return octets(text)?.join(".");
}

/**
 * The eight 16-bit words of IPv6 address `text` (hex groups of 1 to 4 digits in either case, at most one
 * `::`, an IPv4 dotted quad as the last two words), or undefined for no address.
 */
function words(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string, last: boolean): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, p] of parts.entries()) {
      if (last && i === parts.length - 1 && p.includes(".")) {
        const q = octets(p);
        if (!q) return undefined;
        out.push(q[0]! * 256 + q[1]!, q[2]! * 256 + q[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const gap = 8 - head.length - tail.length;
  return gap >= 1 ? [...head, ...Array<number>(gap).fill(0), ...tail] : undefined;
}

/**
 * The text an INET6 column holds `text` as, or undefined for no IPv6 address. MariaDB's `Inet6::to_string`:
 * lowercase hex without leading zeros; the first longest run of zero words (a single one too) as `::`; an
 * IPv4-compatible (`::a.b.c.d`, six zero words) or IPv4-mapped (`::ffff:a.b.c.d`) address ends in a dotted
 * quad. So `FE80::0001` is `fe80::1`, `1:0:2:3:4:5:6:7` is `1::2:3:4:5:6:7`, `::0.0.1.0` is `::100`.
 */
export function inet6Text(text: string): string | undefined {
  const w = words(text);
  if (!w) return undefined;
  let gap = { pos: -1, length: -1 };
  let run = { pos: -1, length: -1 };
  for (const [i, x] of w.entries()) {
    if (x !== 0) {
      if (run.pos >= 0 && run.length > gap.length) gap = run;
      run = { pos: -1, length: -1 };
    } else if (run.pos >= 0) run.length++;
    else run = { pos: i, length: 1 };
  }
  if (run.pos >= 0 && run.length > gap.length) gap = run;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === gap.pos) {
      out += i === 0 ? "::" : ":";
      i += gap.length - 1;
    } else if (i === 6 && gap.pos === 0 && (gap.length === 6 || (gap.length === 5 && w[5] === 0xffff))) {
      return `${out}${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
    } else {
      out += w[i]!.toString(16);
      if (i + 1 !== 8) out += ":";
    }
  }
  return out;
}
