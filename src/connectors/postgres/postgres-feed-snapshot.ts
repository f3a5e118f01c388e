/** Reading a PostgreSQL snapshot's text for the change feed's visibility wait; pure, no I/O. */

/**
 * Whether a snapshot (`xmin:xmax:xip,…`, 64-bit ids) still counts a transaction (its 32-bit id, as logical
 * decoding gives it) as running: listed among the in-progress ones, or at or past `xmax` (not yet completed
 * when the snapshot was taken). Compared modulo 2^32 as the server compares ids, so epochs do not matter.
 */
export function stillRunning(xid: number, snapshot: string): boolean {
  const [, xmax = "0", xip = ""] = snapshot.split(":");
  const low = (id: string) => Number(BigInt(id) & 0xffffffffn);
  if (((xid - low(xmax)) | 0) >= 0) return true;
  return xip !== "" && xip.split(",").some((id) => low(id) === xid);
}
