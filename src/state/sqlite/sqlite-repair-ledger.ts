/** The RepairLedger port on SQLite: claims and settlements read and write under the file's write lock. */
import type { AuditEntry, AuditEntryContent } from "../../core/audit-chain.js";
import { keyId } from "../../core/model.js";
import {
  checkSettlementAudit,
  claimedEntry,
  claimsById,
  claimVerdict,
  type LedgerOwnership,
  settlementRounds,
  undoingSettled,
  undoneBySettled,
  undoneRefs,
} from "../ledger-rules.js";
import { type PreparedAudit, prepareAudit } from "../prepared-audit.js";
import {
  type LedgerEntry,
  ledgerFilter,
  pageLimit,
  type RepairClaim,
  type RepairFilter,
  type RepairLedger,
  type RepairPage,
  type RepairPageOptions,
  type RepairRef,
  type RepairSettlement,
} from "../repair-ledger.js";
import { type LedgerRow, ledgerRow, toLedgerEntry } from "../state-rows.js";
import type { SqliteAuditLog } from "./sqlite-audit-log.js";
import { conditions, insertRows, type SqliteStateDb } from "./sqlite-state-db.js";

/**
 * Upserts an entry by key and id (the unique index ledger_key: a batch's keys are one stretch of its order, its
 * ids random); an existing row keeps its rowid, so the ledger lists in the order first recorded.
 */
const LEDGER_COLUMNS = [
  "id",
  "run_id",
  "dataset",
  "key",
  "target",
  "expected",
  "next_fingerprint",
  "before_values",
  "after_values",
  "outcome",
  "attempts",
  "error",
  "updated_at",
  "undoes",
  "before_native",
] as const;

/** What follows the VALUES of an upsert: an existing row is updated in place. */
const ON_CONFLICT = `
  ON CONFLICT (key, id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset, key = excluded.key,
    target = excluded.target, expected = excluded.expected, next_fingerprint = excluded.next_fingerprint,
    before_values = excluded.before_values, after_values = excluded.after_values, outcome = excluded.outcome,
    attempts = excluded.attempts, error = excluded.error, updated_at = excluded.updated_at,
    undoes = excluded.undoes, before_native = excluded.before_native`;

export class SqliteRepairLedger implements RepairLedger {
  constructor(
    private readonly s: SqliteStateDb,
    private readonly audit: SqliteAuditLog,
  ) {}

  async getRepairs(refs: readonly RepairRef[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    if (refs.length === 0) return out;
    for (const e of this.rows(refs)) out.set(e.id, e);
    return out;
  }

  async recordRepairs(entries: readonly LedgerEntry[]): Promise<void> {
    // One row per id with its last values, in the place of its first mention, as upserting one at a time would.
    const latest = new Map<string, LedgerEntry>();
    for (const e of entries) latest.set(e.id, e);
    this.s.transaction(() => this.upsert([...latest.values()]));
  }

  async claimRepairs(entries: readonly LedgerEntry[]): Promise<Map<string, RepairClaim>> {
    const given = claimsById(entries);
    return this.s.immediate(() => this.claimNow(given));
  }

  // The transactions' bodies are methods, and their loops plain loops, not closures made per call: V8 recompiles
  // such a closure after every full GC (docs/benchmarks.md, "Callbacks recompiled per batch").
  /**
   * Claims `given` (one entry per id) with one conditional upsert per 64 entries: a new id is inserted, an
   * existing one taken over only where claimVerdict says `claim` (the WHERE of CLAIM_SUFFIX, the same rule in
   * SQL), its attempts counted on; RETURNING names those claimed. Each id is looked up once, by the upsert
   * itself, not first by a SELECT of its owner (docs/benchmarks.md, "One lookup per claim and settlement").
   * Rows go in the order given, so the ledger lists in the same order as before.
   */
  private claimNow(given: readonly LedgerEntry[]): Map<string, RepairClaim> {
    const out = new Map<string, RepairClaim>();
    const attempts = new Map<string, number>();
    // Each entry as a new id's claim stores it (attempts 1); a taken-over one counts on from its row.
    const fresh: LedgerEntry[] = [];
    for (const e of given) fresh.push(claimedEntry(e, undefined));
    for (let at = 0; at < given.length; at += ROWS_PER_STATEMENT) {
      const end = Math.min(at + ROWS_PER_STATEMENT, given.length);
      const values: unknown[] = [];
      for (let i = at; i < end; i++) pushLedgerValues(values, fresh[i]!);
      const rows = this.s
        .insertStatement("INSERT", "ledger", LEDGER_COLUMNS, end - at, CLAIM_SUFFIX)
        .all(values) as { id: string; attempts: number }[];
      for (const r of rows) attempts.set(r.id, r.attempts);
    }
    for (let i = 0; i < given.length; i++) {
      const e = given[i]!;
      const n = attempts.get(e.id);
      if (n !== undefined) {
        const entry = fresh[i]!;
        out.set(e.id, { kind: "claimed", entry: n === entry.attempts ? entry : claimedEntry(e, n - 1) });
        continue;
      }
      // Not claimed: another run has it pending, or it is applied (rare; one read each).
      const row = this.row(e)!;
      const verdict = claimVerdict(ownership(row), e.runId);
      if (verdict === "claim") throw new Error(`claimRepairs: ${e.id} was claimable but not claimed`);
      out.set(e.id, { kind: verdict, entry: toLedgerEntry(row) });
    }
    return out;
  }

  async settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]> {
    checkSettlementAudit(settlements, audit);
    const prepared = prepareAudit(audit);
    if (settlements.length === 0) return [];
    return this.s.immediate(() => this.settleNow(settlements, prepared));
  }

  private settleNow(
    settlements: readonly RepairSettlement[],
    prepared: readonly PreparedAudit[],
  ): AuditEntry[] {
    const taken = this.settleRows(settlements);
    this.markUndone(undoingSettled(settlements, taken));
    if (!prepared.length) return [];
    const appended: PreparedAudit[] = [];
    for (const i of taken) appended.push(prepared[i]!);
    return this.audit.insert(appended);
  }

  /** The repairs settled inverse writes (`refs`, the settlements that took effect) undid, marked in this transaction. */
  private markUndone(refs: readonly RepairRef[]): void {
    if (refs.length === 0) return;
    const settled = this.rows(refs);
    const named = undoneRefs(settled);
    if (named.length === 0) return;
    const undone = undoneBySettled(settled, new Map(this.rows(named).map((e) => [e.id, e])));
    if (undone.length) this.upsert(undone);
  }

  /** The entries of these repairs (those that exist), each found by its key and id in ledger_key. */
  private rows(refs: readonly RepairRef[]): LedgerEntry[] {
    const pairs: [string, string][] = [];
    for (const r of refs) pairs.push([keyId(r.key), r.id]);
    return (
      this.s
        .prepare(
          `SELECT l.* FROM ledger AS l
           WHERE (l.key, l.id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))`,
        )
        .all(JSON.stringify(pairs)) as LedgerRow[]
    ).map(toLedgerEntry);
  }

  /**
   * Records the settlements that take effect (settlementTakesEffect) and returns their indexes, in order, by
   * one rule: conditional UPDATEs of 64 rows, their WHERE the rule in SQL and RETURNING naming the rows they
   * changed, so each id is looked up once, by the update itself (docs/benchmarks.md, "One lookup per claim and
   * settlement"). An UPDATE names an id at most once (SQLite would apply one of two rows for it, either), so
   * the n-th settlement of an id in the call goes into round n: each round sees what the one before left, as
   * if the settlements were applied one at a time. A batch that settles each id once is one round.
   */
  private settleRows(settlements: readonly RepairSettlement[]): number[] {
    const taken: number[] = [];
    const rounds = settlementRounds(settlements);
    for (const round of rounds) {
      const settled = new Set<string>();
      let values: unknown[] = [];
      let rows = 0;
      for (const i of round) {
        const s = settlements[i]!;
        values.push(s.id, s.runId, s.outcome, s.attempts, s.error ?? null, s.updatedAt, keyId(s.key));
        if (++rows === ROWS_PER_STATEMENT) {
          this.settleStatement(values, rows, settled);
          values = [];
          rows = 0;
        }
      }
      if (rows > 0) this.settleStatement(values, rows, settled);
      // A round names each id once: the ids its statements changed are the settlements that took effect.
      for (const i of round) if (settled.has(settlements[i]!.id)) taken.push(i);
    }
    if (rounds.length > 1) taken.sort((a, b) => a - b);
    return taken;
  }

  /** Runs one conditional UPDATE of `rows` settlements (`values`, no id twice); adds the ids it settled to `settled`. */
  private settleStatement(values: unknown[], rows: number, settled: Set<string>): void {
    const changed = this.s.prepare(settleSql(rows)).all(values) as { id: string }[];
    for (const r of changed) settled.add(r.id);
  }

  async listRepairs(filter: RepairFilter): Promise<LedgerEntry[]> {
    const where = conditions(ledgerFilter(filter, "rowid"));
    const rows = this.s
      .prepare(`SELECT * FROM ledger${where.sql} ORDER BY rowid`)
      .all(...where.params) as LedgerRow[];
    return rows.map(toLedgerEntry);
  }

  async listRepairsPage(filter: RepairFilter, page: RepairPageOptions): Promise<RepairPage> {
    // Keyset on rowid, which an upsert keeps: the indexes on run_id and dataset hold it, so a page is a range.
    const where = conditions(ledgerFilter(filter, "rowid", page.after));
    const rows = this.s
      .prepare(`SELECT rowid AS position, * FROM ledger${where.sql} ORDER BY rowid LIMIT ?`)
      .all(...where.params, pageLimit(page.limit)) as (LedgerRow & { position: number })[];
    const entries = rows.map(toLedgerEntry);
    const last = rows[rows.length - 1];
    return rows.length < page.limit || !last ? { entries } : { entries, next: String(last.position) };
  }

  async countRepairs(filter: RepairFilter, options: { after?: string | undefined } = {}): Promise<number> {
    const where = conditions(ledgerFilter(filter, "rowid", options.after));
    const row = this.s.prepare(`SELECT count(*) AS n FROM ledger${where.sql}`).get(...where.params) as {
      n: number;
    };
    return row.n;
  }

  async listAbandonedRepairs(
    dataset: string,
    options: { staleBefore: number; limit?: number },
  ): Promise<LedgerEntry[]> {
    // Not live: the run's record is finished or its heartbeat (its start, before heartbeats) is stale; with no
    // record (a rollback begins none), the claim's own time counts. Comparisons with the missing run's NULLs
    // are NULL, so each branch applies only where it should.
    const rows = this.s
      .prepare(
        `SELECT l.* FROM ledger AS l LEFT JOIN runs AS r ON r.id = l.run_id AND r.dataset = l.dataset
         WHERE l.dataset = ? AND l.outcome = 'pending'
           AND ((r.id IS NULL AND l.updated_at < ?) OR r.status <> 'running'
             OR coalesce(r.heartbeat_at, r.started_at) < ?)
         ORDER BY l.rowid LIMIT ?`,
      )
      .all(dataset, options.staleBefore, options.staleBefore, options.limit ?? -1) as LedgerRow[];
    return rows.map(toLedgerEntry);
  }

  /** The whole ledger row of a repair (inside the caller's transaction). */
  private row(ref: RepairRef): LedgerRow | undefined {
    return this.s.prepare("SELECT * FROM ledger WHERE key = ? AND id = ?").get(keyId(ref.key), ref.id) as
      | LedgerRow
      | undefined;
  }

  /** Upserts entries by id (at most one per id), in the order given, in multi-row statements. */
  private upsert(entries: readonly LedgerEntry[]): void {
    const values: unknown[] = [];
    for (const e of entries) pushLedgerValues(values, e);
    insertRows(this.s, "ledger", LEDGER_COLUMNS, values, ON_CONFLICT);
  }
}

/** Appends `e`'s row values to `values`, in LEDGER_COLUMNS order. */
function pushLedgerValues(values: unknown[], e: LedgerEntry): void {
  const r = ledgerRow(e);
  values.push(
    r.id,
    r.run_id,
    r.dataset,
    r.key,
    r.target,
    r.expected,
    r.next_fingerprint,
    r.before_values,
    r.after_values,
    r.outcome,
    r.attempts,
    r.error,
    r.updated_at,
    r.undoes,
    r.before_native ?? null,
  );
}

/**
 * What follows a claim's VALUES: an existing id is taken over only where claimVerdict says `claim` (it is not
 * applied, and not pending under another run), pending under the claimer with its attempts counted on and no
 * error; a new id is inserted as given (a claimed entry: pending, attempts 1). RETURNING names the rows claimed.
 */
const CLAIM_SUFFIX = `
  ON CONFLICT (key, id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset, key = excluded.key,
    target = excluded.target, expected = excluded.expected, next_fingerprint = excluded.next_fingerprint,
    before_values = excluded.before_values, after_values = excluded.after_values, outcome = 'pending',
    attempts = ledger.attempts + 1, error = NULL, updated_at = excluded.updated_at, undoes = excluded.undoes,
    before_native = excluded.before_native
  WHERE ledger.outcome <> 'applied' AND (ledger.outcome <> 'pending' OR ledger.run_id = excluded.run_id)
  RETURNING id, attempts`;

/** Settlements per UPDATE statement. */
const ROWS_PER_STATEMENT = 64;

/**
 * The conditional UPDATE that settles `n` ledger rows, given as VALUES rows (id, run_id, outcome, attempts,
 * error, updated_at, key), each row found by key and id in ledger_key: only the outcome columns are rewritten,
 * not the images, and only where settlementTakesEffect
 * says so (SETTLE_IF). Built with loops, not callbacks made per call (docs/benchmarks.md, "Callbacks recompiled
 * per batch").
 */
function settleSql(n: number): string {
  const cached = SETTLE_SQL[n];
  if (cached) return cached;
  let list = "(?, ?, ?, ?, ?, ?, ?)";
  for (let r = 1; r < n; r++) list += ", (?, ?, ?, ?, ?, ?, ?)";
  const sql = `UPDATE ledger SET run_id = v.column2, outcome = v.column3, attempts = v.column4, error = v.column5,
    updated_at = v.column6 FROM (VALUES ${list}) AS v
    WHERE ledger.key = v.column7 AND ledger.id = v.column1${SETTLE_IF}`;
  SETTLE_SQL[n] = sql;
  return sql;
}

/**
 * settlementTakesEffect in SQL, for an UPDATE of settlements as VALUES rows: the entry is pending under the
 * settling run, or the settlement records a landed write and the entry records none. RETURNING names the rows
 * settled.
 */
const SETTLE_IF = `
    AND ((ledger.outcome = 'pending' AND ledger.run_id = v.column2)
      OR (v.column3 IN ('applied', 'rolled-back') AND ledger.outcome NOT IN ('applied', 'rolled-back')))
    RETURNING id`;

const SETTLE_SQL: string[] = [];

function ownership(row: Pick<LedgerRow, "run_id" | "outcome">): LedgerOwnership {
  return { runId: row.run_id, outcome: row.outcome };
}
