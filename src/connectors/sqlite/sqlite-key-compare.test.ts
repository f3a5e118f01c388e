import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { compareKeys, type Key } from "../../core/model.js";
import { type KeyCompareTerm, keyCompareSql, keyEqualsSql, keyRangeSql } from "../key-compare-sql.js";

// The NULL-aware key predicates, evaluated by a real SQL engine against the engine's own key order.
const db = new Database(":memory:");
afterAll(() => db.close());

const COLUMNS = [
  { name: "a", type: "integer" as const },
  { name: "b", type: "text" as const },
  { name: "c", type: "integer" as const },
];
const part = (i: number) =>
  i === 1 ? fc.constantFrom(null, "", "NULL", "a", "b") : fc.constantFrom(null, "-1", "0", "2");
const key = fc.tuple(part(0), part(1), part(2)) as fc.Arbitrary<Key>;

/** Terms of `bound` against the columns of a VALUES row (x.a, x.b, x.c), literals inlined. */
function terms(bound: Key, nullable: readonly boolean[]): KeyCompareTerm[] {
  return COLUMNS.map((c, i) => {
    const v = bound[i] ?? null;
    const literal = v === null ? "NULL" : c.type === "integer" ? v : `'${v}'`;
    return {
      expr: `x.${c.name}`,
      bound: literal,
      boundNull: v === null,
      nullable: nullable[i]!,
    };
  });
}

/** Whether SQLite finds `condition` true for the row `row`. */
function holds(row: Key, condition: string): boolean {
  const lit = (v: string | null, i: number) =>
    v === null ? "NULL" : COLUMNS[i]!.type === "integer" ? v : `'${v}'`;
  const values = row.map((v, i) => `${lit(v, i)} AS ${COLUMNS[i]!.name}`).join(", ");
  return db.prepare(`SELECT count(*) FROM (SELECT ${values}) AS x WHERE ${condition}`).pluck().get() === 1;
}

describe("keyCompareSql, keyRangeSql and keyEqualsSql", () => {
  it("agree with compareKeys (NULL first) on every key, bound and nullability", () => {
    fc.assert(
      fc.property(key, key, key, (row, lo, hi) => {
        // A NOT NULL column never holds NULL: the row must respect what the terms are told.
        const nullable = row.map((v) => v === null || v === "NULL" || v === "-1");
        for (const op of [">=", ">", "<", "<="] as const) {
          const c = compareKeys(COLUMNS, row, lo);
          const want = op === ">=" ? c >= 0 : op === ">" ? c > 0 : op === "<" ? c < 0 : c <= 0;
          expect(
            holds(row, keyCompareSql(terms(lo, nullable), op)),
            `${JSON.stringify(row)} ${op} ${JSON.stringify(lo)}`,
          ).toBe(want);
        }
        expect(holds(row, keyEqualsSql(terms(lo, nullable)))).toBe(compareKeys(COLUMNS, row, lo) === 0);
        const inRange = compareKeys(COLUMNS, row, lo) >= 0 && compareKeys(COLUMNS, row, hi) < 0;
        for (const rowValues of [false, true]) {
          const range = keyRangeSql(terms(lo, nullable), terms(hi, nullable), { rowValues });
          expect(
            holds(row, range),
            `${JSON.stringify(row)} in [${JSON.stringify(lo)}, ${JSON.stringify(hi)}) ${rowValues}`,
          ).toBe(inRange);
          const after = keyRangeSql(terms(lo, nullable), terms(hi, nullable), { loStrict: true, rowValues });
          expect(holds(row, after)).toBe(
            compareKeys(COLUMNS, row, lo) > 0 && compareKeys(COLUMNS, row, hi) < 0,
          );
          const below = keyRangeSql(null, terms(hi, nullable), { rowValues });
          expect(holds(row, below)).toBe(compareKeys(COLUMNS, row, hi) < 0);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("spell a NULL part IS NULL, never = NULL, and fold NOT NULL columns' constants away", () => {
    const t = (bound: string | null, nullable: boolean): KeyCompareTerm => ({
      expr: "k",
      bound: bound ?? "NULL",
      boundNull: bound === null,
      nullable,
    });
    expect(keyEqualsSql([t("1", true), t(null, true)].map((x, i) => ({ ...x, expr: `k${i}` })))).toBe(
      "k0 = 1 AND k1 IS NULL",
    );
    expect(keyCompareSql([t(null, false)], "<")).toBe("1 = 0");
    expect(keyCompareSql([t(null, true)], ">=")).toBe("1 = 1");
    expect(keyCompareSql([t("5", false)], ">=")).toBe("(k >= 5)");
    expect(keyCompareSql([t("5", true)], "<")).toBe("((k IS NULL OR k < 5))");
  });
});
