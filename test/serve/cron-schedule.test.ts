/**
 * Cron schedules (Cassandra Reaper's habit): `schedule: "*\/5 * * * *"` is accepted where a duration was the
 * only choice, a bad one is refused naming the field, and serve starts the next pass when it next fires (UTC).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load-config.js";
import { createService } from "../../src/serve/service.js";

const config = (schedule: string, dir = "/tmp") =>
  parseConfig(
    `state: "sqlite::memory:"
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    schedule: ${JSON.stringify(schedule)}
`,
    join(dir, "concord.yaml"),
  );

describe("cron schedules", () => {
  it("are accepted beside durations; a bad one is refused with the field named", () => {
    expect(config("*/5 * * * *").datasets[0]).toMatchObject({
      scheduleCron: "*/5 * * * *",
      scheduleMs: undefined,
    });
    expect(config("@hourly").datasets[0]!.scheduleCron).toBe("@hourly");
    expect(config("5m").datasets[0]).toMatchObject({ scheduleMs: 300_000, scheduleCron: undefined });
    expect(() => config("*/5 * * *")).toThrow(
      new ConfigError(
        "datasets.t.schedule: cron expression: expected five fields (minute hour day-of-month month day-of-week), got 4",
      ),
    );
    expect(() => config("61 * * * *")).toThrow(
      "datasets.t.schedule: cron expression: minute: 61 is outside 0-59",
    );
    expect(() => config("soon")).toThrow(
      'datasets.t.schedule: expected a duration such as "5m" or a cron expression such as "*/5 * * * *"',
    );
  });

  it("start serve's next pass when the expression next fires, and show it in the status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-cron-"));
    try {
      for (const r of ["a", "b"]) {
        const db = new Database(join(dir, `${r}.db`));
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        db.close();
      }
      const now = Date.parse("2024-05-01T12:03:10Z");
      const service = await createService(config("*/15 * * * *", dir), { now: () => now, log: () => {} });
      try {
        await service.start();
        const [status] = await service.api.datasets();
        expect(status).toMatchObject({
          scheduleMs: null,
          scheduleCron: "*/15 * * * *",
          state: "idle",
          nextRunAt: Date.parse("2024-05-01T12:15:00Z"),
        });
      } finally {
        await service.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("wait for a firing more than 24.8 days away instead of starting a pass at once (Node's timer limit)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-cron-"));
    try {
      for (const r of ["a", "b"]) {
        const db = new Database(join(dir, `${r}.db`));
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        db.close();
      }
      // Two days into the year: the next @yearly firing is 363 days away, past 2^31 - 1 ms.
      const now = Date.parse("2024-01-03T00:00:00Z");
      const service = await createService(config("@yearly", dir), { now: () => now, log: () => {} });
      try {
        await service.start();
        // A timer past Node's limit fires after 1 ms: give it ample time to (wrongly) start a pass.
        await new Promise((r) => setTimeout(r, 300));
        const [status] = await service.api.datasets();
        expect(status).toMatchObject({ state: "idle", nextRunAt: Date.parse("2025-01-01T00:00:00Z") });
        expect(status?.lastRun).toBeUndefined();
      } finally {
        await service.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
