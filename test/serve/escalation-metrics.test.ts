/** Escalations are counted once, when they open, however many passes find them still open; a gauge shows the open ones. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createService, type Service } from "../../src/serve/service.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
let service: Service | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-escm-"));
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** The value of `name{labels}` in a Prometheus exposition (0 when absent). */
function sample(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("escalation metrics", () => {
  it("three repair passes over 40 undecidable conflicts count 40 escalations, and 40 are open", async () => {
    makeItemsReplicas(dir, { rows: 200, conflict: Array.from({ length: 40 }, (_, i) => i + 1) });
    const config = itemsConfig(dir, {
      policy: "resolve: highest-version",
      extra: "    checkpointRows: 50\n",
    });
    service = await createService(config, { log: () => {} });
    for (let pass = 0; pass < 3; pass++) {
      await service.api.trigger("items", "repair");
      await service.idle();
    }
    const { body } = await service.api.metrics();
    expect(sample(body, "concord_escalations_total", 'class="conflict"')).toBe(40);
    expect(sample(body, "concord_escalations_open", 'dataset="items"')).toBe(40);
  });
});
