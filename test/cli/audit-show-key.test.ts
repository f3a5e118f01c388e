/**
 * `audit show --key K` names a key as its key columns read it: `030` and `+30` are integer key 30 (as the
 * hints' `?key=` reads them), a text key is matched exactly (`030` is not text key `30`), and a bytes key's
 * hex is read in either case where the config declares the column `bytes` in `types:`.
 */
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  type AuditJson,
  itemsConfig,
  makeSqliteTable,
  parseJson,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

const EXTRA = `  labels:
    key: code
    replicas:
      a: { url: "sqlite:a.db", table: labels }
      b: { url: "sqlite:b.db", table: labels }
  blobs:
    key: k
    types: { k: bytes }
    replicas:
      a: { url: "sqlite:a.db", table: blobs }
      b: { url: "sqlite:b.db", table: blobs }
`;

describe.concurrent("concord audit show --key", () => {
  it("reads the key by its columns' types: 030 is integer key 30, text keys exactly, bytes hex in either case", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir); // items: stale [30] among others
    const labels = ["30", "030", "31"].map((code) => [code, `label ${code}`]);
    makeSqliteTable(join(dir, "a.db"), "labels", "code TEXT PRIMARY KEY, label TEXT", labels);
    makeSqliteTable(join(dir, "b.db"), "labels", "code TEXT PRIMARY KEY, label TEXT", labels, {
      sql: "UPDATE labels SET label = 'changed' WHERE code IN ('30', '030');",
    });
    const blobs = [Buffer.from([0x00, 0xab]), Buffer.from([0x01])].map((k, i) => [k, `v${i}`]);
    makeSqliteTable(join(dir, "a.db"), "blobs", "k BLOB PRIMARY KEY, v TEXT", blobs);
    makeSqliteTable(join(dir, "b.db"), "blobs", "k BLOB PRIMARY KEY, v TEXT", blobs, {
      sql: "UPDATE blobs SET v = 'changed' WHERE k = x'00ab';",
    });
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY, EXTRA));
    const repaired = await runConcord(["repair", "-c", config]);
    expect(repaired.code, repaired.stderr).toBe(1); // escalations remain

    // The datasets and stored keys of the entries shown (each has several: detected, decided, …).
    const show = async (key: string): Promise<string[]> => {
      const r = await runConcord(["audit", "show", "--json", "--key", key, "-c", config]);
      expect(r.code, `${key}: ${r.stderr}`).toBe(0);
      const entries = parseJson<{ entries: AuditJson[] }>(r).entries;
      expect(entries.length, key).toBeGreaterThan(0);
      return [...new Set(entries.map((e) => `${e.dataset} ${e.key}`))];
    };
    const [plain, padded, signed, asArray, text030, text30, upper, lower] = await Promise.all(
      ["30", "030", "+30", "[30]", '["030"]', '["30"]', "00AB", "00ab"].map(show),
    );
    expect(plain).toEqual(['items ["30"]', 'labels ["30"]']);
    // Integer key 30 of items, however spelt; labels' text keys only as written.
    expect(padded).toEqual(['items ["30"]', 'labels ["030"]']);
    expect(signed).toEqual(['items ["30"]']);
    expect(asArray).toEqual(plain);
    expect(text030).toEqual(padded);
    expect(text30).toEqual(plain);
    expect(upper).toEqual(['blobs ["00ab"]']);
    expect(lower).toEqual(upper);
  });
});
