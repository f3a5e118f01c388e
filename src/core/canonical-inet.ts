/** The canonical text of an IP address (RFC 5952, as PostgreSQL's inet prints it). Pure: no I/O. */

/** An IPv4 address's four octets, or undefined when `text` is no dotted quad (leading zeros allowed). */
export function ipv4Octets(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.map(Number);
}

/**
 * The eight 16-bit words of IPv6 address `text` (hex groups of 1 to 4 digits in either case, at most one
 * `::`, an IPv4 dotted quad as the last two words; no zone), or undefined for no address.
 */
export function ipv6Words(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string, last: boolean): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, p] of parts.entries()) {
      if (last && i === parts.length - 1 && p.includes(".")) {
        const q = ipv4Octets(p);
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
 * Eight words laid out as BIND's inet_ntop lays them out (PostgreSQL's inet, MariaDB's INET6): lowercase hex
 * without leading zeros; the first longest run of zero words as `::`, but only a run of two or more when
 * `compressSingle` is false (RFC 5952 §4.2.2; MariaDB compresses a single zero word too); an
 * IPv4-compatible (`::a.b.c.d`, six zero words first) or IPv4-mapped (`::ffff:a.b.c.d`) address ends in a
 * dotted quad.
 */
export function layoutIpv6(w: readonly number[], compressSingle: boolean): string {
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
  if (gap.length < 2 && !compressSingle) gap = { pos: -1, length: -1 };
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

/**
 * The canonical text of an address for comparison: an IPv6 address (with an optional `/prefix`) in RFC 5952
 * form exactly as PostgreSQL's inet prints it (lowercase, no leading zeros, the first longest run of two or
 * more zero groups as `::`, a single zero group written `0`, an IPv4-mapped or -compatible address with a
 * dotted quad: `::ffff:1.2.3.4`, `::1.2.3.4`); any other text (IPv4, or no address) as it is. So MariaDB's
 * INET6 `1::2:3:4:5:6:7` and PostgreSQL's inet `1:0:2:3:4:5:6:7` are one address. Only the text a store's
 * address column gives back is read with it (a text column stays text).
 */
export function canonicalInetText(text: string): string {
  if (!text.includes(":")) return text;
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const w = ipv6Words(address);
  if (!w) return text;
  const laid = layoutIpv6(w, false);
  return slash < 0 ? laid : laid + text.slice(slash);
}
