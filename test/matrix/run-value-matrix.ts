/** Runs the value matrix for one direction of one store pair and lists every expectation it breaks. Tests only. */
import type { ReplicaConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { canonicalIn } from "./families.js";
import type { MatrixColumn, MatrixKeyType } from "./matrix.js";
import { closeQuietly, type MatrixOutcome, type OpenStore, runConcord } from "./run-concord.js";
import { type Cell, type GridColumn, type GridRow, gridColumns, gridRows, nativeRows } from "./value-grid.js";

const INTEGER_KEY: MatrixKeyType = { family: "integer", ddl: "integer key" };

/**
 * Runs the value matrix from `s` to `d` in table `table`: scan, repair (s owns), scan, read d back. Returns
 * every broken expectation, one line each naming the family, both types, the value and what happened.
 */
export async function runValueMatrix(s: OpenStore, d: OpenStore, table: string): Promise<MatrixOutcome> {
  const skipped: string[] = [];
  const failures: string[] = [];
  const columns = gridColumns(s.store, d.store, skipped);
  const rows = gridRows(columns);
  const sKey = s.store.keyTypes.find((k) => k.family === "integer") ?? INTEGER_KEY;
  const dKey = d.store.keyTypes.find((k) => k.family === "integer") ?? INTEGER_KEY;
  const specs = (side: "s" | "d"): MatrixColumn[] =>
    columns.map((c) => ({ name: c.name, type: side === "s" ? c.s : c.d }));
  await s.space.create(table, sKey, specs("s"), nativeRows(rows, columns, "s"));
  await d.space.create(table, dKey, specs("d"), nativeRows(rows, columns, "d"));
  const names = columns.map((c) => c.name);
  const before = await d.space.read(table, names);

  const repaired = rows.filter((r) => r.kind === "different").map((r) => String(r.key));
  // The refused rows of one column are repaired together: the batch's refusal names that column either way.
  const refusedByColumn = new Map<number, string[]>();
  for (const row of rows) {
    if (row.kind !== "refused") continue;
    const i = [...row.cells.keys()][0]!;
    refusedByColumn.set(i, [...(refusedByColumn.get(i) ?? []), String(row.key)]);
  }
  // Between two stores without column types, the dataset says what each column holds.
  const untyped = s.store.schemaless && d.store.schemaless;
  const types: Record<string, string> = untyped ? { k: "integer" } : {};
  if (untyped) for (const c of columns) types[c.name] = c.family.logical;
  const { runs, descriptions } = await runConcord(
    table,
    s,
    d,
    table,
    [
      { mode: "scan" },
      { mode: "repair", keys: repaired },
      ...[...refusedByColumn.values()].map((keys) => ({ mode: "repair" as const, keys })),
      { mode: "scan" },
    ],
    names,
    types,
  );
  const scan = runs[0]!;
  const rescan = runs.at(-1)!;
  const repair = { results: runs.slice(1, -1).flatMap((r) => r.results) };
  const dNative = new Map(descriptions.get("d")!.columns.map((c) => [c.name, c.nativeType]));
  const label = (c: GridColumn) => `${c.family.name} ${s.store.name} ${c.s.ddl} → ${d.store.name} ${c.d.ddl}`;
  const what = (cell: Cell) =>
    `${cell.s?.value.id ?? "NULL"}${cell.s && cell.s.text !== cell.s.value.canonical ? ` spelled ${JSON.stringify(cell.s.text)}` : ""} vs ${cell.d?.value.id ?? "NULL"}`;
  for (const issue of scan.issues) failures.push(`schema: ${issue}`);

  // 1. The first scan: exactly the cells that differ are reported, each on its own column.
  const found = new Map(scan.divergences.map((dv) => [dv.key[0]!, dv]));
  for (const row of rows) {
    const dv = found.get(String(row.key));
    found.delete(String(row.key));
    const diverging = row.kind === "different" || row.kind === "refused";
    const expected = new Set(diverging ? [...row.cells.keys()] : []);
    const reported = new Set(dv?.columns ?? []);
    for (const [i, cell] of row.cells) {
      const c = columns[i]!;
      const differs = reported.has(c.name);
      if (expected.has(i) && !differs)
        failures.push(`${label(c)}: ${what(cell)} (${row.kind}) not reported as divergent`);
      if (!expected.has(i) && differs)
        failures.push(`${label(c)}: ${what(cell)} (${row.kind}) reported as divergent`);
    }
    for (const name of reported)
      if (!columns.some((c, i) => c.name === name && row.cells.has(i)))
        failures.push(`row ${row.key}: column ${name} (NULL on both) reported as divergent`);
  }
  for (const key of found.keys())
    failures.push(`key ${key}: reported as divergent, but no such row was written`);

  // 2. The repair: every row applied, but the refused ones, which fail naming the column and the target type.
  const outcome = new Map(repair.results.map((r) => [r.key[0]!, r]));
  for (const row of rows) {
    if (row.kind === "equal" || row.kind === "spelling") continue;
    const r = outcome.get(String(row.key));
    const [i, cell] = [...row.cells][0]!;
    const c = columns[i]!;
    if (row.kind === "refused") {
      const native = dNative.get(c.name) ?? c.d.ddl;
      if (r?.outcome !== "failed")
        failures.push(
          `${label(c)}: writing ${cell.s!.value.id} was ${r?.outcome ?? "not attempted"}, not refused`,
        );
      else if (!r.error || /\n/.test(r.error) || !r.error.includes(c.name) || !r.error.includes(native))
        failures.push(
          `${label(c)}: refusing ${cell.s!.value.id} does not name column ${c.name} and type ${native} on one line: ${r.error}`,
        );
    } else if (r?.outcome !== "applied") {
      failures.push(
        `row ${row.key} (${[...row.cells.keys()].map((j) => columns[j]!.name).join(", ")}): repair ${r?.outcome ?? "not attempted"}${r?.error ? `: ${r.error}` : ""}`,
      );
    }
  }

  // 3. The second scan: only the refused rows still differ.
  const left = new Set(rescan.divergences.map((dv) => dv.key[0]!));
  for (const row of rows) {
    const still = left.has(String(row.key));
    if (still !== (row.kind === "refused")) {
      const cols = [...row.cells.keys()].map((i) => columns[i]!.name);
      const dv = rescan.divergences.find((x) => x.key[0] === String(row.key));
      failures.push(
        `row ${row.key} (${row.kind}; ${still ? `columns ${dv?.columns.join(", ")}` : cols.join(", ")}) ${still ? "still divergent after the repair" : "no longer divergent, though its repair was refused"}`,
      );
    }
  }

  // 4. The target, read back with its own client: each repaired cell holds what the store holds when its own
  // client writes that value (the equal rows), and refused rows are untouched.
  const after = await d.space.read(table, names);
  const equalRow = new Map<string, (string | null)[]>();
  for (const row of rows) {
    if (row.kind !== "equal") continue;
    const native = after.get(String(row.key));
    for (const [i, cell] of row.cells) if (native) equalRow.set(`${i}/${cell.d!.value.id}`, native);
  }
  for (const row of rows) {
    if (row.kind !== "different" && row.kind !== "refused") continue;
    const native = after.get(String(row.key));
    for (const [i, cell] of row.cells) {
      const c = columns[i]!;
      const got = native?.[i];
      let want: string | null | undefined;
      if (row.kind === "refused") want = before.get(String(row.key))?.[i];
      else if (!cell.s) want = null;
      else want = equalRow.get(`${i}/${cell.s.value.id}`)?.[i];
      if (got !== want)
        failures.push(
          `${label(c)}: ${what(cell)}: the target holds ${JSON.stringify(got)}, natively ${JSON.stringify(want)} when written by its own client`,
        );
    }
  }

  // 5. Every equal value reads as its canonical text on both sides (what the fingerprints were built from).
  await checkCanonical(s, d, table, scan.shape, columns, rows, failures, label);
  return { failures, skipped, rows: rows.length, columns: columns.length };
}

/** The equal rows' values, fetched through each connector with the run's shape, are the values' canonical texts. */
async function checkCanonical(
  s: OpenStore,
  d: OpenStore,
  table: string,
  shape: RecordShape,
  columns: readonly GridColumn[],
  rows: readonly GridRow[],
  failures: string[],
  label: (c: GridColumn) => string,
): Promise<void> {
  const keys = rows.filter((r) => r.kind === "equal").map((r) => [String(r.key)]);
  for (const open of [s, d]) {
    const replica = { name: open.store.name, ...open.space.replica(table) } as ReplicaConfig;
    const connector = await openConnector("canonical", replica);
    try {
      const records = await connector.fetchRecords(shape, keys);
      const byKey = new Map(records.map((r) => [r.key[0]!, r.values]));
      for (const row of rows) {
        if (row.kind !== "equal") continue;
        const values = byKey.get(String(row.key));
        for (const [i, cell] of row.cells) {
          const c = columns[i]!;
          const at = shape.columns.findIndex((x) => x.name === c.name);
          if (at < 0) continue;
          const want = canonicalIn(c.family, shape.columns[at]!.type, cell.s!.value);
          if (values?.[at] !== want)
            failures.push(
              `${label(c)}: ${cell.s!.value.id} reads as ${JSON.stringify(values?.[at])} on ${open.store.name}, not its canonical ${JSON.stringify(want)}`,
            );
        }
      }
    } finally {
      await closeQuietly(connector);
    }
  }
}
