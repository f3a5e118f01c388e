/** Escalations are counted once, when they open, however many passes find them still open; a gauge shows the open ones. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService, type Service } from "../../src/serve/service.js";

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

/** a and b of `items`; keys 1–40 hold different values with equal versions (conflicts nobody may decide). */
function replicas(): void {
  for (const name of ["a", "b"]) {
    const db = new Database(join(dir, `${name}.db`));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)");
    const insert = db.prepare("INSERT INTO items VALUES (?, ?, ?)");
    for (let i = 1; i <= 200; i++) insert.run(i, i <= 40 ? `${name} ${i}` : `item ${i}`, 1);
    db.close();
  }
}

/** The value of `name{labels}` in a Prometheus exposition (0 when absent). */
function sample(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("escalation metrics", () => {
  it("three repair passes over 40 undecidable conflicts count 40 escalations, and 40 are open", async () => {
    replicas();
    const config = parseConfig(
      `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { resolve: highest-version }
    checkpointRows: 50
`,
      join(dir, "concord.yaml"),
    );
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
