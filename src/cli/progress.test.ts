import { describe, expect, it } from "vitest";
import { createProgress, progressLine } from "./progress.js";

describe("progressLine", () => {
  it.each([
    ["no rate before a second", 500, 1000, false, 400, "ds  [############------------]  50%  500/1,000 rows"],
    [
      "rate and ETA once measurable",
      500,
      1000,
      false,
      2000,
      "ds  [############------------]  50%  500/1,000 rows  250 rows/s  ETA 2.00s",
    ],
    [
      "an estimated total marked as one, and its ETA too",
      250,
      1000,
      true,
      1000,
      "ds  [######------------------]  25%  250/~1,000 rows (estimated)  250 rows/s  ETA ~3.00s",
    ],
    [
      "no ETA when done",
      1000,
      1000,
      false,
      4000,
      "ds  [########################] 100%  1,000/1,000 rows  250 rows/s",
    ],
  ] as const)("%s", (_, done, total, estimate, elapsed, line) => {
    expect(progressLine("ds", done, total, estimate, elapsed)).toBe(line);
  });
});

describe("createProgress", () => {
  it("measures the rate from the label's first update and draws nothing off a terminal", () => {
    let t = 10_000;
    let out = "";
    const write = (s: string) => {
      out += s;
      return true;
    };
    const tty = { write, isTTY: true, columns: 200 };
    const p = createProgress(tty as never, () => t);
    p.update("a", 0, 100);
    t += 2000;
    p.update("a", 50, 100);
    expect(out.split("\r").at(-1)).toBe(
      "a  [############------------]  50%  50/100 rows  25 rows/s  ETA 2.00s\x1b[K",
    );
    p.clear();
    expect(out.endsWith("\r\x1b[K")).toBe(true);
    let quiet = "";
    const pipe = {
      write: (s: string) => {
        quiet += s;
        return true;
      },
    };
    createProgress(pipe as never).update("a", 1, 2);
    expect(quiet).toBe("");
  });

  it("stays monotone when a dense group is read again a piece at a time under the same label", () => {
    let t = 0;
    const lines: string[] = [];
    const tty = {
      write: (s: string) => {
        lines.push(s);
        return true;
      },
      isTTY: true,
      columns: 200,
    };
    const p = createProgress(tty as never, () => t);
    const step = (done: number, total: number, estimate = false) => {
      t += 200;
      p.update("ds", done, total, estimate);
    };
    // The whole range: counted, read to 85% before it held too many differing keys.
    step(0, 10_000);
    step(8_500, 10_000);
    // Cut into five pieces of ~2,000 rows, each scanned from 0; the second stops short and is cut again.
    for (const [done, total, estimate] of [
      [0, 2_000, true],
      [2_000, 2_000, false],
      [0, 2_000, true],
      [1_000, 2_000, false],
      [0, 1_000, true],
      [1_000, 1_000, false],
      [0, 1_000, true],
      [1_000, 1_000, false],
      [0, 2_000, true],
      [2_000, 2_000, false],
      [0, 2_000, true],
      [1_000, 2_000, false],
      [2_000, 2_000, false],
      [0, 2_000, true],
      [2_000, 2_000, false],
    ] as const)
      step(done, total, estimate);
    const shown = lines
      .filter((l) => l.includes("rows"))
      .map((l) => /(\d[\d,]*)\/(~?)([\d,]+) rows/.exec(l)!)
      .map((m) => ({ done: Number(m[1]!.replace(/,/g, "")), total: `${m[2]}${m[3]}` }));
    // The whole scan's 8,500 holds until the pieces together pass it, then the count goes on to the end.
    expect(shown.map((s) => s.done)).toEqual([0, ...Array(15).fill(8_500), 10_000]);
    // Never the piece's own "~2,000" once the whole group's count is known.
    expect(new Set(shown.map((s) => s.total))).toEqual(new Set(["10,000"]));
  });
});
