/** Bulk conditional writes for one PostgreSQL table: lock, compare fingerprints, write in set-based statements. Runs inside the caller's transaction. */
import type { CanonicalValue } from "../../core/canonical.js";
import { describeRaw } from "../../core/canonical-errors.js";
import { fingerprintRow } from "../../core/fingerprint.js";
import { compareKeys, type Key, keyId } from "../../core/model.js";
import type { ConditionalWrite, WriteOutcome } from "../connector.js";
import { duplicateNullKeyMessage } from "../unique-key.js";
import { nativeSql, quoteName } from "./postgres-canonical-sql.js";
import type { PgColumn } from "./postgres-column-types.js";
import type { RunQuery } from "./postgres-session.js";
import { Params, PostgresShapeSql, T } from "./postgres-shape-sql.js";
import { explainSkippedInserts, WriteRefusal } from "./postgres-write-refusals.js";
import { postgresWriteValue } from "./postgres-write-values.js";

/** What a batch of writes changes for one key: from the row it held to the row it ends with. */
interface KeyPlan {
  readonly key: Key;
  /** Fingerprint of the row when locked, or null when absent. */
  readonly before: string | null;
  /** The values to end with, or null for absent. */
  after: readonly CanonicalValue[] | null;
  /** Positions of the writes that were `applied` on this key. */
  readonly applied: number[];
}

/**
 * Applies `writes` with the Connector contract's semantics, in order, as if one at a time:
 *
 * 1. `SELECT <key>, <fingerprint> FROM tbl t WHERE <key> IN (<batch keys>) ORDER BY <key> FOR UPDATE`
 *    locks every existing row of the batch (in key order, so concurrent batches cannot deadlock) and
 *    reads what it holds now; a row a concurrent transaction changed is read after that change commits.
 * 2. Each write is decided against the current state of its key: `noop` when it already holds `next`,
 *    `superseded` when it holds something other than `expected`, else `applied` (the state moves on).
 * 3. Each key's net change is written in one statement per kind, each still guarded by the fingerprint
 *    read in step 1 (computed by PostgreSQL when the shape is pushed down):
 *      UPDATE tbl t SET c = CAST(u.c AS type), … FROM unnest($keys, $fps, $values…) u(k0, fp, c…)
 *        WHERE t.k = u.k0 AND left(md5(<encoding of t>), 16) = u.fp RETURNING <key>
 *      DELETE FROM tbl t USING unnest($keys, $fps) u(k0, fp) WHERE t.k = u.k0 AND <fp of t> = u.fp RETURNING <key>
 *      INSERT INTO tbl AS t (k, c…) SELECT … FROM unnest(…) u ON CONFLICT DO NOTHING RETURNING <key>
 *    A key the statement did not write (a row inserted concurrently since step 1) turns its writes into
 *    `superseded`: nothing someone else wrote is overwritten. An insert skipped for any other reason (a key
 *    equal under a nondeterministic collation, another unique index) refuses the batch (WriteRefusal, see
 *    `explainSkippedInserts`).
 * Values are sent as `postgresWriteValue` spells them, or as the source's own text where `next` carries it
 * (`nativeValueAt`: read by PostgreSQL from a column of the same type, so the cast gives back the very value:
 * numeric 1.50, float -0, a json text byte for byte); the caller has checked them (`refusedWrite`).
 */
export async function applyConditionalWrites(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  run: RunQuery,
): Promise<{ outcomes: WriteOutcome[]; rowsWritten: number }> {
  const current = await lockCurrent(s, writes, run);
  const plans = new Map<string, KeyPlan>();
  // A loop, not a callback made per call: V8 recompiles such a callback after every full GC (docs/benchmarks.md,
  // "Callbacks recompiled per batch").
  const outcomes: WriteOutcome[] = [];
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const id = keyId(w.key);
    const now = plans.get(id);
    const held = now ? (now.after ? fingerprintRow(w.key, now.after) : null) : (current.get(id) ?? null);
    const next = w.next ? fingerprintRow(w.key, w.next) : null;
    if (held === next) outcomes.push("noop");
    else if (held !== w.expected) outcomes.push("superseded");
    else {
      const plan = now ?? { key: w.key, before: current.get(id) ?? null, after: null, applied: [] };
      plan.after = w.next;
      plan.applied.push(i);
      plans.set(id, plan);
      outcomes.push("applied");
    }
  }

  const updates: KeyPlan[] = [];
  const deletes: KeyPlan[] = [];
  const inserts: KeyPlan[] = [];
  // Key order everywhere, so two batches on the same keys wait for each other instead of deadlocking.
  const ordered = [...plans.values()].sort((a, b) => compareKeys(s.shape.key, a.key, b.key));
  for (const p of ordered) {
    if (p.before !== null && p.after !== null) {
      if (fingerprintRow(p.key, p.after) !== p.before) updates.push(p);
    } else if (p.before !== null) deletes.push(p);
    else if (p.after !== null) inserts.push(p);
  }
  const written = new Set<string>();
  const record = (rows: (string | null)[][]) => {
    for (const row of rows) written.add(keyId(s.codec.key(row)));
  };
  // One statement per pattern of NULL key parts: a NULL part joins by IS NULL (never `= NULL`), the others
  // by equality an index serves.
  if (writable(s).length > 0)
    for (const group of byNullParts(updates)) record(await run(...updateSql(s, group)));
  // Only generated columns to change: nothing to write, and `checkGenerated` refuses what they compute.
  else for (const p of updates) written.add(keyId(p.key));
  for (const group of byNullParts(deletes)) record(await run(...deleteSql(s, group)));
  if (inserts.length > 0) {
    record(await run(...insertSql(s, inserts)));
    const skipped = inserts.filter((p) => !written.has(keyId(p.key))).map((p) => p.key);
    if (skipped.length > 0) await explainSkippedInserts(s, skipped, run);
  }
  await checkGenerated(
    s,
    [...updates, ...inserts].filter((p) => written.has(keyId(p.key))),
    run,
  );
  for (const p of [...updates, ...deletes, ...inserts]) {
    if (!written.has(keyId(p.key))) for (const i of p.applied) outcomes[i] = "superseded";
  }
  return { outcomes, rowsWritten: written.size };
}

/** Locks the batch's existing rows and returns their fingerprints by key id. */
async function lockCurrent(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  run: RunQuery,
): Promise<Map<string, string>> {
  const keys = new Map<string, Key>();
  for (const w of writes) if (s.lookupable(w.key)) keys.set(keyId(w.key), w.key);
  const out = new Map<string, string>();
  if (keys.size === 0) return out;
  // Literals, not parameters: the statement can then travel with the transaction's BEGIN (one round trip).
  const params = new Params(true);
  const select = s.pushdown ? `${s.keyOut}, ${s.fingerprint()}` : s.rawList;
  const rows = await run(
    `SELECT ${select} FROM ${s.table} AS ${T} WHERE ${s.keyIn([...keys.values()], params)} ` +
      `ORDER BY ${s.orderBy} FOR UPDATE`,
    params.values,
  );
  for (const row of rows) {
    const key = s.codec.key(row);
    // Only a key with NULL parts can name several rows (a unique index lets those repeat): never guess one.
    if (out.has(keyId(key))) throw new WriteRefusal(duplicateNullKeyMessage("", s.table, key));
    out.set(keyId(key), s.pushdown ? row[s.keys.length]! : s.codec.record(row).fingerprint);
  }
  return out;
}

/** Plans grouped by which key parts are NULL (most keys have none: one group). */
function byNullParts(plans: readonly KeyPlan[]): KeyPlan[][] {
  const groups = new Map<string, KeyPlan[]>();
  for (const p of plans) {
    const mask = p.key.map((v) => (v === null ? "1" : "0")).join("");
    const group = groups.get(mask);
    if (group) group.push(p);
    else groups.set(mask, [p]);
  }
  return [...groups.values()];
}

/** unnest(<key arrays>, [fingerprints], [value arrays]) AS u(k0…, fp, c0…) and the join on the key. */
function source(
  s: PostgresShapeSql,
  plans: readonly KeyPlan[],
  params: Params,
  withFp: boolean,
  withValues: boolean,
) {
  const arrays: string[] = [];
  const names: string[] = [];
  s.keys.forEach((k, i) => {
    arrays.push(
      params.add(
        plans.map((p) => p.key[i]),
        `${k.param}[]`,
      ),
    );
    names.push(`k${i}`);
  });
  if (withFp) {
    arrays.push(
      params.add(
        plans.map((p) => p.before),
        "text[]",
      ),
    );
    names.push("fp");
  }
  if (withValues) {
    const width = s.keys.length;
    s.shape.columns.forEach((spec, c) => {
      const column = s.native[width + c]!;
      arrays.push(
        params.add(
          plans.map((p) => {
            const v = p.after![c] ?? null;
            if (v === null) return null;
            // The source's own text where it read it from a column of this very type: 1.50 stays 1.50.
            return s.exactText(p.after!, c) ?? postgresWriteValue(column, spec.type, v);
          }),
          "text[]",
        ),
      );
      names.push(`c${c}`);
    });
  }
  const from = `unnest(${arrays.join(", ")}) AS u(${names.join(", ")})`;
  // Plans come grouped by their NULL key parts (`byNullParts`), except inserts, which join nothing.
  const join = s.keys
    .map((k, i) => (plans[0]!.key[i] === null ? `${k.eq} IS NULL` : PostgresShapeSql.equals(k, `u.k${i}`)))
    .join(" AND ");
  const guard = withFp && s.pushdown ? ` AND ${s.fingerprint()} = u.fp` : "";
  return { from, where: `${join}${guard}` };
}

/**
 * Positions (in `s.shape.columns`) of the compared columns an UPDATE may set: not generated columns, nor a
 * GENERATED ALWAYS identity (PostgreSQL lets an UPDATE set it only to DEFAULT).
 */
function writable(s: PostgresShapeSql): number[] {
  const width = s.keys.length;
  return s.shape.columns.flatMap((_, i) => (computed(s.native[width + i]!) ? [] : [i]));
}

/** Why PostgreSQL keeps its own value in `column` whatever an UPDATE sends, or undefined when it does not. */
function computed(column: PgColumn): string | undefined {
  if (column.generated) return "it is a generated column, which computed";
  return column.identityAlways
    ? "it is a GENERATED ALWAYS identity column, which an UPDATE cannot set; it holds"
    : undefined;
}

/**
 * Generated columns are left out of every write, and PostgreSQL computes them (and an UPDATE leaves a
 * GENERATED ALWAYS identity column as it is): re-reads the keys written
 * (in the batch's transaction) and refuses the batch when a generated column now holds anything but the
 * value the write was to leave there, naming the column, the key and both values. The refusal rolls the
 * batch back, and the executor writes it again row by row, so only such rows fail.
 */
async function checkGenerated(s: PostgresShapeSql, plans: readonly KeyPlan[], run: RunQuery): Promise<void> {
  const width = s.keys.length;
  const generated = s.shape.columns.flatMap((_, i) => (computed(s.native[width + i]!) ? [i] : []));
  if (generated.length === 0 || plans.length === 0) return;
  const params = new Params();
  const rows = await run(
    `SELECT ${s.rawList} FROM ${s.table} AS ${T} WHERE ${s.keyIn(
      plans.map((p) => p.key),
      params,
    )}`,
    params.values,
  );
  const held = new Map(rows.map((row) => s.codec.record(row)).map((r) => [keyId(r.key), r.values]));
  for (const p of plans) {
    const values = held.get(keyId(p.key));
    for (const i of generated) {
      const want = p.after![i] ?? null;
      const got = values?.[i] ?? null;
      if (want === got) continue;
      const column = s.native[width + i]!;
      const type = s.shape.columns[i]!.type;
      const show = (v: CanonicalValue) =>
        v === null ? "NULL" : type === "text" || type === "json" ? describeRaw(v) : v;
      throw new WriteRefusal(
        `column ${column.name} (${column.nativeType}) cannot store ${show(want)} at key ${JSON.stringify(p.key)}: ` +
          `${computed(column)} ${show(got)}`,
      );
    }
  }
}

function updateSql(s: PostgresShapeSql, plans: readonly KeyPlan[]): [string, unknown[]] {
  const params = new Params();
  const { from, where } = source(s, plans, params, true, true);
  const width = s.keys.length;
  const sets = writable(s).map(
    (i) => `${quoteName(s.shape.columns[i]!.name)} = ${nativeSql(`u.c${i}`, s.native[width + i]!)}`,
  );
  return [
    `UPDATE ${s.table} AS ${T} SET ${sets.join(", ")} FROM ${from} WHERE ${where} RETURNING ${s.keyOut}`,
    params.values,
  ];
}

function deleteSql(s: PostgresShapeSql, plans: readonly KeyPlan[]): [string, unknown[]] {
  const params = new Params();
  const { from, where } = source(s, plans, params, true, false);
  return [`DELETE FROM ${s.table} AS ${T} USING ${from} WHERE ${where} RETURNING ${s.keyOut}`, params.values];
}

function insertSql(s: PostgresShapeSql, plans: readonly KeyPlan[]): [string, unknown[]] {
  const params = new Params();
  const { from } = source(s, plans, params, false, true);
  const width = s.keys.length;
  const all = [...s.shape.key, ...s.shape.columns].flatMap((c, i) =>
    s.native[i]!.generated ? [] : [{ c, i }],
  );
  // Key arrays are typed already: a bytea key part is sent as bytea, not as hex text to decode.
  const values = all.map(({ i }) =>
    i < width && s.keys[i]!.param === "bytea"
      ? `u.k${i}`
      : nativeSql(i < width ? `u.k${i}` : `u.c${i - width}`, s.native[i]!),
  );
  // A GENERATED ALWAYS identity column takes the owner's value only when the insert says so.
  const overriding = all.some(({ i }) => s.native[i]!.identityAlways) ? " OVERRIDING SYSTEM VALUE" : "";
  return [
    `INSERT INTO ${s.table} AS ${T} (${all.map(({ c }) => quoteName(c.name)).join(", ")})${overriding} ` +
      `SELECT ${values.join(", ")} FROM ${from} ON CONFLICT DO NOTHING RETURNING ${s.keyOut}`,
    params.values,
  ];
}
