/** Redis (hash records) in the type matrix: one text field per column, typed by the other store; a key prefix per test file. Tests only. */
import type { Redis } from "ioredis";
import { canonicalValue } from "../../../src/core/canonical.js";
import { createRedisTestPrefix } from "../../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../../support/services.js";
import { FAMILIES, singleAsDouble, spellsJson } from "../families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixSpace, MatrixStore } from "../matrix.js";

/**
 * A field holds any text, so every family is one "type" that holds every value and takes every spelling (a
 * JSON document only those meaning its value when a repeated name's last value counts);
 * Concord reads the field as the other store's type. A single is handed over as the double that holds it
 * exactly (what an application computing in doubles stores), so it also equals a double column's value.
 */
const TYPES: MatrixColumnType[] = FAMILIES.map((family) => ({
  family: family.name,
  ddl: "hash field",
  // A JSON document in a field means what Concord's reading of Redis takes: a repeated name's last value.
  spells: family.name === "json" ? spellsJson("last") : () => true,
  ...(family.name === "float32" ? { encode: singleAsDouble } : {}),
}));

const KEY_TYPES: MatrixKeyType[] = [
  { family: "integer", ddl: "key" },
  { family: "text", ddl: "key" },
  // A binary key part is its lowercase hex in the key name (docs/redis.md).
  { family: "bytes", ddl: "key" },
];

export const store: MatrixStore = {
  name: "redis",
  schemaless: true,
  types: TYPES,
  keyTypes: KEY_TYPES,
  available: () => serviceAvailable(REDIS),
  async open(): Promise<MatrixSpace> {
    const test = createRedisTestPrefix("matrix");
    const client: Redis = test.admin;
    const families = new Map<string, Map<string, string>>();
    const space = (table: string) => `${test.prefix}${table}:`;
    return {
      async create(table, _key, columns, rows) {
        families.set(table, new Map(columns.map((c) => [c.name, c.type.family])));
        for (let i = 0; i < rows.length; i += 200) {
          const multi = client.multi();
          for (const row of rows.slice(i, i + 200)) {
            const key = String(row.key);
            // The key as a field too, as Concord writes it: a hash whose columns are all NULL still exists.
            const fields: string[] = ["k", key];
            columns.forEach((c, j) => {
              const cell = row.cells[j];
              if (cell !== undefined) fields.push(c.name, String(cell));
            });
            multi.hset(`${space(table)}${key}`, ...fields);
          }
          await multi.exec();
        }
      },
      replica: (table) => ({ url: REDIS.url, prefix: space(table), format: "hash" }),
      async read(table, columns) {
        const out = new Map<string, (string | null)[]>();
        const kinds = families.get(table) ?? new Map<string, string>();
        const pattern = `${space(table).replace(/[\\*?[\]]/g, "\\$&")}*`;
        let cursor = "0";
        do {
          const [next, names] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          for (const name of names) {
            const hash = await client.hgetall(name);
            out.set(
              name.slice(space(table).length),
              columns.map((c) => {
                const text = Object.hasOwn(hash, c) ? hash[c]! : null;
                // A single's text, whichever double or single spelling it was written in, by the single it is.
                return text !== null && kinds.get(c) === "float32" ? canonicalValue("float32", text) : text;
              }),
            );
          }
          cursor = next;
        } while (cursor !== "0");
        return out;
      },
      close: () => test.drop(),
    };
  },
};
