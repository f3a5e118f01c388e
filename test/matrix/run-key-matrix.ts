/** Runs the key matrix for one direction and one key type pair, and lists every expectation it breaks. Tests only. */
import { KEY_VALUES } from "./families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixRow, MatrixStore } from "./matrix.js";
import { type MatrixOutcome, type OpenStore, runConcord } from "./run-concord.js";

/**
 * Runs the key matrix from `s` (key type `sk`) to `d` (key type `dk`) in `table`: the source holds every key
 * of the family both types hold (one of each set the source's own type cannot hold both of), the target every
 * other one and one of its own; the scan must find exactly those missing ones, the repair insert them exactly
 * (or refuse, naming the collation, those the target cannot hold beside a key it has), and delete its own.
 */
export async function runKeyMatrix(
  s: OpenStore,
  sk: MatrixKeyType,
  d: OpenStore,
  dk: MatrixKeyType,
  table: string,
): Promise<MatrixOutcome> {
  const failures: string[] = [];
  const label = `key ${s.store.name} ${sk.ddl} → ${d.store.name} ${dk.ddl}`;
  const gap = s.store.known?.[`key:${sk.ddl}`] ?? d.store.known?.[`key:${dk.ddl}`];
  if (gap) return { failures, skipped: [`${label}: ${gap}`], rows: 0, columns: 0 };
  const all = KEY_VALUES[sk.family].filter((k) => (sk.holds?.(k) ?? true) && (dk.holds?.(k) ?? true));
  const source: string[] = [];
  for (const k of all) if (!source.some((x) => sk.collides?.(x, k))) source.push(k);
  const target = source.filter((_, i) => i % 2 === 0);
  const extra =
    sk.family === "integer" ? "42" : sk.family === "bytes" ? "0102030405060708090a0b0c0d0e0fff" : "only-d";
  const missing = source.filter((_, i) => i % 2 === 1);
  const refused = missing.filter((k) => target.some((t) => dk.collides?.(t, k)));
  const value: MatrixColumnType = { family: "text", ddl: "text" };
  const col = (st: MatrixStore) => st.types.find((t) => t.family === "text") ?? value;
  const rows = (keys: readonly string[], kt: MatrixKeyType, st: MatrixStore): MatrixRow[] =>
    keys.map((k) => {
      const ct = col(st);
      return {
        key: kt.encode ? kt.encode(k) : kt.family === "integer" ? BigInt(k) : k,
        cells: [ct.encode ? ct.encode("x", { id: "x", canonical: "x" }) : "x"],
      };
    });
  await s.space.create(table, sk, [{ name: "v", type: col(s.store) }], rows(source, sk, s.store));
  await d.space.create(table, dk, [{ name: "v", type: col(d.store) }], rows([...target, extra], dk, d.store));
  const plain = [...missing, extra].filter((k) => !refused.includes(k));
  const declared = sk.declare ?? dk.declare;
  const { runs } = await runConcord(
    table,
    s,
    d,
    table,
    [
      { mode: "scan" },
      { mode: "repair", keys: plain },
      ...refused.map((k) => ({ mode: "repair" as const, keys: [k] })),
      { mode: "scan" },
    ],
    ["v"],
    declared ? { k: declared } : s.store.schemaless && d.store.schemaless ? { k: sk.family, v: "text" } : {},
  );
  const scan = runs[0]!;
  const rescan = runs.at(-1)!;
  const repair = { results: runs.slice(1, -1).flatMap((r) => r.results) };
  const show = (keys: Iterable<string>) => JSON.stringify([...keys].sort());
  const divergent = new Set(scan.divergences.map((dv) => dv.key[0]!));
  const expected = new Set([...missing, extra]);
  if (show(divergent) !== show(expected))
    failures.push(`${label}: scan found ${show(divergent)}, expected the missing ${show(expected)}`);
  for (const dv of scan.divergences)
    if (dv.class !== "missing")
      failures.push(`${label}: key ${JSON.stringify(dv.key[0])} is ${dv.class}, not missing`);
  for (const r of repair.results) {
    const k = r.key[0]!;
    if (refused.includes(k)) {
      if (r.outcome !== "failed" || !r.error || /\n/.test(r.error) || !/collation/i.test(r.error))
        failures.push(
          `${label}: inserting ${JSON.stringify(k)} beside a key equal under the collation was ${r.outcome}, not refused naming the collation: ${r.error}`,
        );
    } else if (r.outcome !== "applied")
      failures.push(
        `${label}: repairing key ${JSON.stringify(k)}: ${r.outcome}${r.error ? `: ${r.error}` : ""}`,
      );
  }
  const left = new Set(rescan.divergences.map((dv) => dv.key[0]!));
  if (show(left) !== show(refused))
    failures.push(`${label}: after the repair ${show(left)} still differ, expected ${show(refused)}`);
  const held = await d.space.read(table, ["v"]);
  const want = source.filter((k) => !refused.includes(k));
  if (show(held.keys()) !== show(want))
    failures.push(`${label}: the target holds keys ${show(held.keys())}, expected ${show(want)}`);
  return { failures, skipped: [], rows: source.length, columns: 1 };
}
