/**
 * A Redis bytes column reads a text of even hex digits as those bytes and any other value as its own bytes
 * (docs/redis.md, "Values"), so several spellings read as one value. A repair from one Redis record to another
 * and a rollback write the spelling the record held (`0xdeadbeef`, `DEADBEEF`, raw non-UTF-8 bytes), not the
 * canonical hex, which would turn the text `0xdeadbeef` into `30786465616462656566`. Read back with the
 * server's own client.
 */
import { afterEach, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(REDIS);

const prefixes: RedisTestPrefix[] = [];
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
});

/** What each record under `t` holds for `column`: its field (hash) or property (json), as bytes in hex. */
async function held(t: RedisTestPrefix, format: "hash" | "json", ids: readonly number[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const name = `${t.prefix}${id}`;
    if (format === "hash") out.push((await t.admin.hgetBuffer(name, "v"))?.toString("hex") ?? "absent");
    else {
      const doc = await t.admin.get(name);
      out.push(doc === null ? "absent" : Buffer.from(String(JSON.parse(doc).v), "utf8").toString("hex"));
    }
  }
  return out;
}

describe.skipIf(!available)("Redis bytes columns keep their spelling on repair", () => {
  it.each(["hash", "json"] as const)(
    "%s: writes 0xdeadbeef, DEADBEEF and raw bytes as the source holds them, and rolls back b's",
    async (format) => {
      const a = createRedisTestPrefix(`types2-bytes-a-${format}`);
      const b = createRedisTestPrefix(`types2-bytes-b-${format}`);
      prefixes.push(a, b);
      const values: [number, string | Buffer][] = [
        [1, "0xdeadbeef"],
        [2, "deadbeef"],
        [3, "DEADBEEF"],
        [4, "\\xCAFE"],
        [5, Buffer.from([0xff, 0x00, 0x7c])],
      ];
      for (const [id, v] of values) {
        if (format === "hash") await a.admin.hset(`${a.prefix}${id}`, "id", String(id), "v", v);
        else if (typeof v === "string") await a.admin.set(`${a.prefix}${id}`, JSON.stringify({ id, v }));
      }
      // b holds key 1 as other bytes, spelt in upper case: the rollback must put that spelling back.
      if (format === "hash") await b.admin.hset(`${b.prefix}1`, "id", "1", "v", "ABCD");
      else await b.admin.set(`${b.prefix}1`, JSON.stringify({ id: 1, v: "ABCD" }));
      const ids = format === "hash" ? [1, 2, 3, 4, 5] : [1, 2, 3, 4];

      const dir = tempDir();
      const cfg = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: id
    columns: [v]
    types: { id: integer, v: bytes }
    replicas:
      a: { url: ${JSON.stringify(REDIS.url)}, prefix: ${JSON.stringify(a.prefix)}, format: ${format} }
      b: { url: ${JSON.stringify(REDIS.url)}, prefix: ${JSON.stringify(b.prefix)}, format: ${format} }
    policy: { owner: a, resolve: owner }
`,
      );
      const before = await held(b, format, ids);
      const print = await runConcord(["repair", "--print", "-c", cfg], { cwd: dir });
      expect(print.stdout).toContain("0xdeadbeef");
      const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
      expect(repair.stderr).toBe("");
      expect(repair.code).toBe(0);
      expect(await held(b, format, ids)).toEqual(await held(a, format, ids));
      const scan = await runConcord(["scan", "-c", cfg], { cwd: dir });
      expect(scan.code).toBe(0);

      const runId = (JSON.parse(repair.stdout) as { runId: string }).runId;
      const rollback = await runConcord(["rollback", "--run", runId, "--json", "-c", cfg], { cwd: dir });
      expect(rollback.stderr).toBe("");
      expect(rollback.code).toBe(0);
      expect(await held(b, format, ids)).toEqual(before);
    },
  );
});
