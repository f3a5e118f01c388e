/** stillRunning: a snapshot's text against 32-bit transaction ids, epochs and wraparound included. */
import { describe, expect, it } from "vitest";
import { stillRunning } from "./postgres-feed-snapshot.js";

const EPOCH = 2n ** 32n;

describe("stillRunning", () => {
  it.each([
    // xid, snapshot, running?
    [100, "90:110:", false], // completed before xmax, not listed
    [100, "90:110:95,100", true], // listed in progress
    [100, "90:100:", true], // at xmax: not completed when the snapshot was taken
    [105, "90:100:", true], // past xmax: not even assigned then, or still running
    [89, "90:110:95", false], // below xmin
    [100, `${EPOCH + 90n}:${EPOCH + 110n}:${EPOCH + 100n}`, true], // epoch 1, listed
    [100, `${EPOCH + 90n}:${EPOCH + 110n}:`, false], // epoch 1, completed
    [4294967290, `${EPOCH - 10n}:${EPOCH + 5n}:`, false], // xmax wrapped past 2^32, xid before it
    [3, `${EPOCH - 10n}:${EPOCH + 2n}:`, true], // xid after a wrapped xmax
    [4294967290, `${EPOCH - 10n}:${EPOCH + 5n}:${EPOCH - 6n}`, true], // listed across the wrap
  ])("xid %d in %s → %s", (xid, snapshot, running) => {
    expect(stillRunning(xid, snapshot)).toBe(running);
  });
});
