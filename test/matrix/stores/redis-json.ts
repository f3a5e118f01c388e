/** Redis (JSON-string records) in the type matrix: one property per column, typed by the other store. Tests only. */
import { canonicalValue } from "../../../src/core/canonical.js";
import { canonicalJsonOf, JsonNumber, parseJsonExact } from "../../../src/core/canonical-json-text.js";
import { createRedisTestPrefix } from "../../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../../support/services.js";
import { FAMILIES, singleAsDouble, spellsJson } from "../families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixSpace, MatrixStore } from "../matrix.js";

/** A property's JSON text, as `create` lays it into the document. */
interface Token {
  readonly json: string;
}

const NUMERIC = new Set(["integer", "decimal", "float", "float32"]);

/**
 * What an application stores in a JSON document: numbers as JSON numbers with their exact digits (NaN and the
 * infinities, which JSON has no number for, as strings; a single as the double that holds it), booleans as
 * booleans, a json column's document as itself, everything else as a string.
 */
function token(family: string, text: string): Token {
  if (family === "json") return { json: text };
  if (family === "boolean") return { json: text === "t" ? "true" : "false" };
  if (NUMERIC.has(family)) {
    const n = family === "float32" ? singleAsDouble(text) : text;
    return { json: Number.isFinite(Number(n)) ? n : JSON.stringify(n) };
  }
  return { json: JSON.stringify(text) };
}

const TYPES: MatrixColumnType[] = FAMILIES.map((family) => ({
  family: family.name,
  ddl: "JSON property",
  spells: (spelling, value) =>
    family.name === "json"
      ? spellsJson("last")(spelling, value)
      : !NUMERIC.has(family.name) || Number.isFinite(Number(spelling)),
  encode: (text) => token(family.name, text),
}));

const KEY_TYPES: MatrixKeyType[] = [
  { family: "integer", ddl: "key" },
  { family: "text", ddl: "key" },
  // A binary key part is its lowercase hex in the key name (docs/redis.md).
  { family: "bytes", ddl: "key" },
];

export const store: MatrixStore = {
  name: "redis-json",
  schemaless: true,
  types: TYPES,
  keyTypes: KEY_TYPES,
  available: () => serviceAvailable(REDIS),
  async open(): Promise<MatrixSpace> {
    const test = createRedisTestPrefix("matrix-json");
    const client = test.admin;
    const families = new Map<string, Map<string, string>>();
    const space = (table: string) => `${test.prefix}${table}:`;
    return {
      async create(table, _key, columns, rows) {
        families.set(table, new Map(columns.map((c) => [c.name, c.type.family])));
        for (let i = 0; i < rows.length; i += 200) {
          const multi = client.multi();
          for (const row of rows.slice(i, i + 200)) {
            const key = String(row.key);
            const members = [`"k":${JSON.stringify(key)}`];
            columns.forEach((c, j) => {
              const cell = row.cells[j] as Token | undefined;
              if (cell !== undefined) members.push(`${JSON.stringify(c.name)}:${cell.json}`);
            });
            multi.set(`${space(table)}${key}`, `{${members.join(",")}}`);
          }
          await multi.exec();
        }
      },
      replica: (table) => ({ url: REDIS.url, prefix: space(table), format: "json" }),
      async read(table, columns) {
        const out = new Map<string, (string | null)[]>();
        const kinds = families.get(table) ?? new Map<string, string>();
        const pattern = `${space(table).replace(/[\\*?[\]]/g, "\\$&")}*`;
        let cursor = "0";
        do {
          const [next, names] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          for (const name of names) {
            const doc = parseJsonExact((await client.get(name)) ?? "{}");
            if (!(doc instanceof Map)) continue;
            out.set(
              name.slice(space(table).length),
              columns.map((c) => {
                if (!doc.has(c)) return null;
                const v = doc.get(c)!;
                if (kinds.get(c) === "json") return canonicalJsonOf(v);
                if (v === null) return null;
                // A number's exact text, a string's text: a repair keeps a property's form, and a new one is a
                // number only where a double holds it, so the same value may be either, read by its value.
                const text =
                  v instanceof JsonNumber ? v.text : typeof v === "string" ? v : canonicalJsonOf(v);
                const family = FAMILIES.find((f) => f.name === kinds.get(c));
                return family && NUMERIC.has(family.name) ? canonicalValue(family.logical, text) : text;
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
