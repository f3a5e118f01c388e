import { describe, expect, it } from "vitest";
import { renderScan, type ScanView } from "./render-scan.js";

/** A scan of `items` that counted `missing` divergences and listed none of them. */
function view(missing: number, extra: Partial<ScanView> = {}): ScanView {
  return {
    name: "items",
    shape: { key: [{ name: "id", type: "integer" }], columns: [{ name: "name", type: "text" }] },
    replicas: { a: { rows: 20_000 }, b: { rows: 20_000 - missing } },
    divergences: [],
    schema: [],
    counts: missing ? { missing } : {},
    stats: { durationMs: 5, rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 1 },
    notes: [],
    ...extra,
  };
}

describe("renderScan", () => {
  it.each([
    ["a finished scan that found nothing", view(0), "items: replicas agree  (a 20,000 rows, b 20,000 rows)"],
    ["large counts are grouped like the row counts", view(19_985), "  missing 19,985"],
    // Ctrl-C before anything was compared is not agreement.
    [
      "an interrupted scan never says the replicas agree",
      view(0, { finished: false, replicas: {} }),
      "items: interrupted, 0 divergences found before it stopped  (no rows read)",
    ],
    [
      "an interrupted scan counts what it found so far",
      view(1_200, { finished: false }),
      "items: interrupted, 1,200 divergences found before it stopped  (a 20,000 rows, b 18,800 rows)",
    ],
  ])("%s", (_, scan, line) => {
    expect(renderScan(scan, 20, scan.divergences.length + (scan.counts.missing ?? 0)).split("\n")).toContain(
      line,
    );
  });
});
