import { describe, expect, it } from "vitest";
import { datasetHint, type HintInput } from "./consistency-hint.js";

const base: HintInput = { openDivergences: 0, openEscalations: 0, lagSeconds: [], lagThresholdSeconds: 30 };

describe("datasetHint", () => {
  it.each([
    ["nothing known", {}, "fresh", { p50: null, p99: null, samples: 0 }],
    ["small lag", { lagSeconds: [0.2, 0.1, 0.4] }, "fresh", { p50: 0.2, p99: 0.4, samples: 3 }],
    ["p99 over the threshold", { lagSeconds: [1, 2, 45] }, "lagging", { p50: 2, p99: 45, samples: 3 }],
    ["a lost sample decides p99", { lagSeconds: [1, null] }, "lagging", { p50: 1, p99: null, samples: 2 }],
    [
      "one lost in 200 stays under the 99th rank",
      { lagSeconds: [...Array.from({ length: 199 }, () => 1), null] },
      "fresh",
      { p50: 1, p99: 1, samples: 200 },
    ],
    ["divergent keys", { openDivergences: 3, lagSeconds: [1] }, "diverged", { p50: 1, p99: 1, samples: 1 }],
    [
      "escalations win over lag",
      { openEscalations: 1, lagSeconds: [99] },
      "diverged",
      { p50: 99, p99: 99, samples: 1 },
    ],
  ] as const)("%s", (_, over, state, lag) => {
    const hint = datasetHint({ ...base, ...over });
    expect(hint.state).toBe(state);
    expect(hint.lag).toEqual(lag);
  });
});
