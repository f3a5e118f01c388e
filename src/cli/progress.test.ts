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
});
