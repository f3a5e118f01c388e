/**
 * Consistency hints over HTTP: a dataset's state (fresh → diverged as a change feed finds a key missing on a
 * replica), a key's hint (divergent, since when, last verified), the Server-Sent Events stream of changes,
 * and the read-only hints token, which opens /api/hints and nothing else.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { createService, type Service } from "../../src/serve/service.js";

const TOKEN = "api-token-0123456789abcdef";
const HINTS = "hints-token-0123456789abcdef";

describe("consistency hints", () => {
  let dir: string;
  let service: Service | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("go from fresh to diverged as a change is found missing, per dataset, per key and as a stream", async () => {
    dir = mkdtempSync(join(tmpdir(), "concord-hints-"));
    for (const r of ["a", "b"]) {
      const db = new Database(join(dir, `${r}.db`));
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one')");
      db.close();
    }
    const config = parseConfig(
      `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
    mode: scan
    watch: { replicas: [a], batch: 20ms }
`,
      join(dir, "concord.yaml"),
    );
    const lines: string[] = [];
    service = await createService(config, { log: (l) => lines.push(l) });
    app = buildHttpApp(service.api, { token: TOKEN, hintsToken: HINTS, log: () => {} });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const get = (path: string, token = HINTS) =>
      fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

    await service.start();
    await until(() => lines.includes("t.a: watching its change feed from now"));

    const fresh = await (await get("/api/hints/t")).json();
    expect(fresh).toMatchObject({
      dataset: "t",
      state: "fresh",
      openDivergences: 0,
      openEscalations: 0,
      lagThresholdSeconds: 30,
      lag: { p50: null, p99: null, samples: 0 },
    });

    // The stream starts with the hint as it stands.
    const stream = await get("/api/hints/t/events");
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const events = readEvents(stream.body!);
    expect((await events.next()).state).toBe("fresh");

    // Written to a only (a lost replication): the feed's check finds it missing on b (scan mode: not repaired).
    const a = new Database(join(dir, "a.db"));
    const b = new Database(join(dir, "b.db"));
    a.prepare("INSERT INTO t VALUES (2, 'two')").run();
    let hint: Record<string, unknown>;
    do hint = await events.next();
    while (hint.state !== "diverged");
    expect(hint).toMatchObject({ dataset: "t", state: "diverged", openDivergences: 1 });
    expect((hint.lag as { samples: number }).samples).toBeGreaterThan(0);

    const two = (await (await get("/api/hints/t?key=2")).json()) as { divergentSince: string };
    expect(two).toMatchObject({ dataset: "t", key: ["2"], divergent: true, repairPending: true });
    expect(Date.parse(two.divergentSince)).not.toBeNaN();
    // Spelt otherwise, the same integer key: the same hint (was: not divergent, a key no row can have).
    for (const spelt of ["02", "+2"])
      expect(await (await get(`/api/hints/t?key=${encodeURIComponent(spelt)}`)).json()).toMatchObject({
        key: ["2"],
        divergent: true,
      });

    // A key written to both is checked and found in agreement: verified, not divergent.
    a.prepare("INSERT INTO t VALUES (3, 'three')").run();
    b.prepare("INSERT INTO t VALUES (3, 'three')").run();
    let three: Record<string, unknown>;
    for (;;) {
      three = (await (await get("/api/hints/t?key=3")).json()) as Record<string, unknown>;
      if (three.lastVerifiedAt !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(three).toMatchObject({ key: ["3"], divergent: false, repairPending: false, divergentSince: null });
    a.close();
    b.close();
    await events.cancel();

    // Bad input and unknown datasets are one-line errors.
    expect(await (await get("/api/hints/nope")).json()).toEqual({ error: "no dataset named nope" });
    expect((await get("/api/hints/nope")).status).toBe(404);
    const wide = await get("/api/hints/t?key=1&key=2");
    expect(wide.status).toBe(400);
    expect(await wide.json()).toEqual({ error: "key: dataset t has 1 key column, got 2 values" });
    for (const bad of ["abc", "2.0", ""]) {
      const res = await get(`/api/hints/t?key=${encodeURIComponent(bad)}`);
      expect([res.status, await res.json()]).toEqual([
        400,
        { error: `key: ${JSON.stringify(bad)} is not an integer (key column id)` },
      ]);
    }

    // The hints token reads hints and nothing else (role hints: 403 elsewhere); the API token reads hints too.
    const other = await get("/api/datasets");
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({
      error: "forbidden: token hints has role hints; GET /api/datasets needs viewer",
    });
    expect((await get("/api/hints/t", TOKEN)).status).toBe(200);
    expect((await get("/api/hints/t", "wrong-token-0123456789")).status).toBe(401);
    const post = await fetch(`${base}/api/datasets/t/scan`, {
      method: "POST",
      headers: { authorization: `Bearer ${HINTS}` },
    });
    expect(post.status).toBe(403);
  });
});

/** Reads `event: hint` messages from an SSE body, one `next()` at a time. */
function readEvents(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(): Promise<Record<string, unknown>> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^event: hint\ndata: (.*)$/m.exec(message);
          if (data) return JSON.parse(data[1]!);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

/** Polls a condition until it holds (the test's timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 25));
}
