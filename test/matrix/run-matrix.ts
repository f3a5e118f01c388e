/** Runs the type matrix for one direction of one store pair through the engine and lists every expectation it breaks. Tests only. */
import { parseConfig, type ReplicaConfig } from "../../src/config/load-config.js";
import type { Connector, TableDescription } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { Divergence } from "../../src/core/classify.js";
import type { RecordShape } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { type RunMode, runDataset } from "../../src/engine/run-dataset.js";
import type { RepairResult } from "../../src/execute/execute-repairs.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import { canonicalIn, FAMILIES, KEY_VALUES } from "./families.js";
import type {
  MatrixColumn,
  MatrixColumnType,
  MatrixFamily,
  MatrixKeyType,
  MatrixRow,
  MatrixSpace,
  MatrixStore,
  MatrixValue,
} from "./matrix.js";

/** A store with its space open for the test file. */
export interface OpenStore {
  readonly store: MatrixStore;
  readonly space: MatrixSpace;
}

/** What a direction came to: the expectations it broke (empty: all held) and the known gaps it skipped. */
export interface MatrixOutcome {
  readonly failures: string[];
  readonly skipped: string[];
  /** Rows compared and columns, for the record. */
  readonly rows: number;
  readonly columns: number;
}

// -----------------------------------------------------------------------------------------------------------
// Running Concord

interface RunResult {
  readonly shape: RecordShape;
  readonly divergences: Divergence[];
  readonly results: RepairResult[];
  readonly notes: readonly string[];
  readonly issues: readonly string[];
}

/** The dataset config of a direction: source `s` owns every record. */
function datasetYaml(
  name: string,
  s: Readonly<Record<string, string>>,
  d: Readonly<Record<string, string>>,
  types: Readonly<Record<string, string>>,
) {
  return `state: "sqlite::memory:"
datasets:
  ${name}:
    key: k
    types: ${JSON.stringify(types)}
    replicas:
      s: ${JSON.stringify(s)}
      d: ${JSON.stringify(d)}
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1, maxRepairs: 1000000 } }
`;
}

/** One run of a direction's dataset: over the whole table, or re-reading only `keys`. */
interface Step {
  readonly mode: RunMode;
  /** Key texts (the key column's canonical text). */
  readonly keys?: readonly string[];
}

/**
 * Opens both replicas of a direction's dataset, runs `steps` in turn over them, and closes them. Repairs the
 * target refuses run apart from the others (by column): what one refused row does to the rest of its write
 * batch is the executor's business (test/integration/row-failures), not the types'.
 */
async function runConcord(
  name: string,
  s: OpenStore,
  d: OpenStore,
  table: string,
  steps: readonly Step[],
  types: Readonly<Record<string, string>> = {},
): Promise<{ runs: RunResult[]; descriptions: Map<string, TableDescription> }> {
  const config = parseConfig(
    datasetYaml(name, s.space.replica(table), d.space.replica(table), types),
    "/matrix.yaml",
  );
  const ds = config.datasets[0]!;
  const state = SqliteStateStore.open(":memory:");
  const replicas: OpenReplica[] = [];
  try {
    for (const r of ds.replicas) replicas.push({ name: r.name, connector: await openConnector(ds.name, r) });
    const descriptions = new Map<string, TableDescription>();
    for (const r of replicas) descriptions.set(r.name, await r.connector.describe());
    const runs: RunResult[] = [];
    let n = 0;
    for (const { mode, keys } of steps) {
      if (keys && keys.length === 0) continue;
      const divergences: Divergence[] = [];
      const results: RepairResult[] = [];
      const run = await runDataset(
        ds,
        replicas,
        { state, now: () => 1_700_000_000_000 + n * 1000 },
        {
          runId: `matrix-${name}-${n++}`,
          command: mode,
          mode,
          ...(keys ? { keys: keys.map((k) => [k]) } : {}),
          // A refused write is the row's answer: retrying it only costs the back-off.
          guard: { maxAttempts: 1, breakAfter: 1_000_000 },
          observer: {
            onSegment(outcome) {
              divergences.push(...outcome.scan.divergences);
              results.push(...outcome.results);
            },
          },
        },
      );
      runs.push({
        shape: run.resolved.shape,
        divergences,
        results,
        notes: run.resolved.notes,
        issues: run.resolved.issues.map((i) => i.detail),
      });
    }
    return { runs, descriptions };
  } finally {
    for (const r of replicas) await closeQuietly(r.connector);
    await state.close();
  }
}

async function closeQuietly(c: Connector): Promise<void> {
  await c.close().catch(() => undefined);
}

// -----------------------------------------------------------------------------------------------------------
// The grid of one direction

interface GridColumn {
  readonly name: string;
  readonly family: MatrixFamily;
  readonly s: MatrixColumnType;
  readonly d: MatrixColumnType;
  /** Values the source holds, those both hold, those only the source holds. */
  readonly shared: readonly MatrixValue[];
  readonly refused: readonly MatrixValue[];
  /** Spellings (source, canonical on the target) of shared values. */
  readonly spellings: readonly { value: MatrixValue; text: string }[];
}

type Kind = "equal" | "spelling" | "different" | "refused";

/** One cell of a row: what each side holds (null: NULL) and what the target must hold after the repair. */
interface Cell {
  readonly s: { value: MatrixValue; text: string } | null;
  readonly d: { value: MatrixValue; text: string } | null;
}

interface GridRow {
  readonly key: number;
  readonly kind: Kind;
  /** Cells by column index; columns not listed are NULL on both sides. */
  readonly cells: Map<number, Cell>;
}

const holds = (t: MatrixColumnType, value: MatrixValue) => t.holds?.(value) ?? true;

/** The known-gap reason for a type or value of `store`, if it declares one. */
function knownGap(store: MatrixStore, family: string, type: MatrixColumnType, value?: MatrixValue) {
  const k = store.known ?? {};
  if (k[`${family}:${type.ddl}`]) return k[`${family}:${type.ddl}`];
  if (!value) return undefined;
  return k[`${family}:${value.id}`] ?? k[`${family}:${type.ddl}:${value.id}`];
}

/** The columns of a direction: every source type of a family beside every target type of it. */
function gridColumns(s: MatrixStore, d: MatrixStore, skipped: string[]): GridColumn[] {
  const out: GridColumn[] = [];
  for (const family of FAMILIES) {
    const sTypes = s.types.filter((t) => t.family === family.name);
    const dTypes = d.types.filter((t) => t.family === family.name);
    let n = 0;
    for (const st of sTypes) {
      for (const dt of dTypes) {
        const gap = knownGap(s, family.name, st) ?? knownGap(d, family.name, dt);
        const label = `${family.name} ${s.name} ${st.ddl} → ${d.name} ${dt.ddl}`;
        if (gap) {
          skipped.push(`${label}: ${gap}`);
          continue;
        }
        const usable = (value: MatrixValue) => {
          const g = knownGap(s, family.name, st, value) ?? knownGap(d, family.name, dt, value);
          if (g) skipped.push(`${label} ${value.id}: ${g}`);
          return !g;
        };
        const values = family.values.filter((value) => holds(st, value) && usable(value));
        const shared = values.filter((value) => holds(dt, value));
        const spellings = shared.flatMap((value) =>
          (value.spellings ?? [])
            .filter((text) => st.spells?.(text, value) ?? false)
            .map((text) => ({ value, text })),
        );
        out.push({
          name: `${family.name}_${n++}`.replaceAll("-", "_"),
          family,
          s: st,
          d: dt,
          shared,
          refused: values.filter((value) => !holds(dt, value)),
          spellings,
        });
      }
    }
  }
  return out;
}

/** The rows of a direction (see the layout in matrix.ts). */
function gridRows(columns: readonly GridColumn[]): GridRow[] {
  const rows: GridRow[] = [];
  let key = 1;
  const packed = (kind: Kind, cellOf: (c: GridColumn, j: number) => Cell | undefined) => {
    for (let j = 0; ; j++) {
      const cells = new Map<number, Cell>();
      columns.forEach((c, i) => {
        const cell = cellOf(c, j);
        if (cell) cells.set(i, cell);
      });
      if (cells.size === 0) return;
      rows.push({ key: key++, kind, cells });
    }
  };
  const canonical = (value: MatrixValue) => ({ value, text: value.canonical });
  packed("equal", (c, j) =>
    j < c.shared.length ? { s: canonical(c.shared[j]!), d: canonical(c.shared[j]!) } : undefined,
  );
  packed("spelling", (c, j) => {
    const sp = c.spellings[j];
    return sp ? { s: sp, d: canonical(sp.value) } : undefined;
  });
  packed("different", (c, j) => {
    const n = c.shared.length;
    if (n < 2) return undefined;
    if (j < n) return { s: canonical(c.shared[j]!), d: canonical(c.shared[(j + 1) % n]!) };
    // Then NULL against a value, both ways.
    if (j === n) return { s: null, d: canonical(c.shared[0]!) };
    if (j === n + 1) return { s: canonical(c.shared[0]!), d: null };
    return undefined;
  });
  columns.forEach((c, i) => {
    for (const value of c.refused) {
      const held = c.shared[0];
      rows.push({
        key: key++,
        kind: "refused",
        cells: new Map([[i, { s: { value, text: value.canonical }, d: held ? canonical(held) : null }]]),
      });
    }
  });
  return rows;
}

function nativeRows(rows: readonly GridRow[], columns: readonly GridColumn[], side: "s" | "d"): MatrixRow[] {
  return rows.map((row) => ({
    key: BigInt(row.key),
    cells: columns.map((c, i) => {
      const held = row.cells.get(i)?.[side];
      if (!held) return undefined;
      const type = side === "s" ? c.s : c.d;
      return type.encode ? type.encode(held.text, held.value) : held.text;
    }),
  }));
}

// -----------------------------------------------------------------------------------------------------------
// One direction of the value matrix

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
  const { runs, descriptions } = await runConcord(table, s, d, table, [
    { mode: "scan" },
    { mode: "repair", keys: repaired },
    ...[...refusedByColumn.values()].map((keys) => ({ mode: "repair" as const, keys })),
    { mode: "scan" },
  ]);
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

// -----------------------------------------------------------------------------------------------------------
// Keys

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
  const extra = sk.family === "integer" ? "42" : "only-d";
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
    declared ? { k: declared } : {},
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
