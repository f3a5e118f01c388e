/** The text MariaDB's INET4 and INET6 columns give back for an address, as the server lays it out. Builds text only: no I/O. */

import { ipv4Octets, ipv6Words, layoutIpv6 } from "../../core/canonical-inet.js";

/** The text an INET4 column holds `text` as (`001.002.003.004` is `1.2.3.4`), or undefined for no address. */
export function inet4Text(text: string): string | undefined {
  return ipv4Octets(text)?.join(".");
}

/**
 * The text an INET6 column holds `text` as, or undefined for no IPv6 address. MariaDB's `Inet6::to_string`:
 * lowercase hex without leading zeros; the first longest run of zero words (a single one too) as `::`; an
 * IPv4-compatible (`::a.b.c.d`, six zero words) or IPv4-mapped (`::ffff:a.b.c.d`) address ends in a dotted
 * quad. So `FE80::0001` is `fe80::1`, `1:0:2:3:4:5:6:7` is `1::2:3:4:5:6:7`, `::0.0.1.0` is `::100`.
 */
export function inet6Text(text: string): string | undefined {
  const w = ipv6Words(text);
  return w ? layoutIpv6(w, true) : undefined;
}

/**
 * SQL for the canonical text (`canonicalInetText`) of INET6 expression `ref`: its text, but a single zero
 * group MariaDB compressed written out (`1::2:3:4:5:6:7` is `1:0:2:3:4:5:6:7`, `::1:2:3:4:5:6:7` is
 * `0:1:2:3:4:5:6:7`), which is the only place MariaDB's layout and RFC 5952's (PostgreSQL's) differ. Such a
 * text holds `::` and seven groups: eight colons with `::` at an end, seven with it inside (seven colons
 * with `::` at an end are six groups: two zero words, compressed in both layouts). NULL stays NULL.
 */
export function mariadbInet6CanonicalSql(ref: string): string {
  const text = `CAST(${ref} AS CHAR)`;
  const colons = `(CHAR_LENGTH(${text}) - CHAR_LENGTH(REPLACE(${text}, ':', '')))`;
  const single = `${text} LIKE '%::%' AND (${colons} = 8 OR ${colons} = 7 AND ${text} NOT LIKE ':%' AND ${text} NOT LIKE '%:')`;
  return `IF(${single}, TRIM(BOTH ':' FROM REPLACE(${text}, '::', ':0:')), ${text})`;
}
