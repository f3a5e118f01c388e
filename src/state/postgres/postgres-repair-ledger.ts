/** The RepairLedger port on PostgreSQL: claims and settlements are conditional statements under the schema's ledger lock. */
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
import { prepareAudit } from "../prepared-audit.js";
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
import type { PostgresAuditLog } from "./postgres-audit-log.js";
import { LEDGER_COLUMNS, SETTLEMENT_COLUMNS } from "./postgres-columns.js";
import {
  chunks,
  columnNames,
  conditions,
  noLimitIfNegative,
  recordset,
  recordsetJson,
  textListJson,
} from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

export class PostgresRepairLedger implements RepairLedger {
  private readonly claimSql: string;
  private readonly settleSql: string;

  constructor(
    private readonly db: PostgresStateDb,
    private readonly audit: PostgresAuditLog,
  ) {
    this.claimSql = claimSql(db.t.ledger);
    this.settleSql = settleSql(db.t.ledger);
  }

  async getRepairs(refs: readonly RepairRef[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    if (refs.length === 0) return out;
    const rows = await this.db.query<LedgerRow>(
      `SELECT * FROM ${this.db.t.ledger} WHERE id IN (SELECT json_array_elements_text($1::json)) ORDER BY ord`,
      [textListJson(refs.map((r) => r.id))],
    );
    const keys = refKeys(refs);
    for (const r of rows) if (keys.get(r.id)?.has(r.key)) out.set(r.id, toLedgerEntry(r));
    return out;
  }

  async recordRepairs(entries: readonly LedgerEntry[]): Promise<void> {
    // One row per id, in the place of its first mention with its last values, as upserting one at a time
    // would leave it (and ON CONFLICT may not touch a row twice in one statement).
    const latest = new Map<string, LedgerEntry>();
    for (const e of entries) latest.set(e.id, e);
    await this.db.writeBatches("ledger", [...latest.values()], (c, batch) => this.upsert(c, batch));
  }

  async claimRepairs(entries: readonly LedgerEntry[]): Promise<Map<string, RepairClaim>> {
    const given = claimsById(entries);
    if (given.length === 0) return new Map();
    return this.db.transaction(async (c) => {
      // The lock keeps two claimers' upserts of overlapping ids in different orders from deadlocking; the
      // upsert's WHERE decides each claim on the row as the previous holder committed it (READ COMMITTED).
      await this.db.lock(c, "ledger");
      // Each entry as a new id's claim stores it (attempts 1); a taken-over one counts on from its row.
      const fresh = given.map((e) => claimedEntry(e, undefined));
      const attempts = new Map<string, number>();
      for (const batch of chunks(fresh, BATCH_ROWS)) {
        const { rows } = await c.query<{ id: string; attempts: number }>(this.claimSql, [
          recordsetJson(LEDGER_COLUMNS, batch.map(ledgerRow)),
        ]);
        for (const r of rows) attempts.set(r.id, r.attempts);
      }
      const out = new Map<string, RepairClaim>();
      const refused: LedgerEntry[] = [];
      for (let i = 0; i < given.length; i++) {
        const e = given[i]!;
        const n = attempts.get(e.id);
        if (n === undefined) refused.push(e);
        else {
          const entry = fresh[i]!;
          out.set(e.id, { kind: "claimed", entry: n === entry.attempts ? entry : claimedEntry(e, n - 1) });
        }
      }
      // Not claimed: another run has it pending, or it is applied (rare): their rows, to report them.
      if (refused.length) {
        const found = await this.rows(c, refused);
        for (const e of refused) {
          const row = found.get(e.id)!;
          const verdict = claimVerdict(ownership(row), e.runId);
          if (verdict === "claim") throw new Error(`claimRepairs: ${e.id} was claimable but not claimed`);
          out.set(e.id, { kind: verdict, entry: toLedgerEntry(row) });
        }
      }
      // In the order given, as the store listed claims before.
      return new Map(given.map((e) => [e.id, out.get(e.id)!]));
    });
  }

  async settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]> {
    checkSettlementAudit(settlements, audit);
    const prepared = prepareAudit(audit);
    if (settlements.length === 0) return [];
    return this.db.transaction(async (c) => {
      // Ledger before audit, as every path that takes both locks does, so two settlers cannot deadlock.
      await this.db.lock(c, "ledger");
      const taken: number[] = [];
      const rounds = settlementRounds(settlements);
      // Each id once per statement (an UPDATE … FROM applies one of two rows for a row, either): round n
      // holds the n-th settlement of each id and sees what round n - 1 left, as if settled one at a time.
      for (const round of rounds)
        for (const batch of chunks(round, BATCH_ROWS)) {
          const { rows } = await c.query<{ id: string }>(this.settleSql, [
            recordsetJson(
              SETTLEMENT_COLUMNS,
              batch.map((i) => settlementRow(settlements[i]!)),
            ),
          ]);
          const settled = new Set(rows.map((r) => r.id));
          for (const i of batch) if (settled.has(settlements[i]!.id)) taken.push(i);
        }
      if (rounds.length > 1) taken.sort((a, b) => a - b);
      await this.markUndone(c, undoingSettled(settlements, taken));
      return prepared.length
        ? this.audit.insert(
            c,
            taken.map((i) => prepared[i]!),
          )
        : [];
    });
  }

  async listRepairs(filter: RepairFilter): Promise<LedgerEntry[]> {
    const where = conditions(ledgerFilter(filter, "ord"));
    const rows = await this.db.query<LedgerRow>(
      `SELECT * FROM ${this.db.t.ledger}${where.sql} ORDER BY ord`,
      where.params,
    );
    return rows.map(toLedgerEntry);
  }

  async listRepairsPage(filter: RepairFilter, page: RepairPageOptions): Promise<RepairPage> {
    // Keyset on ord, which an upsert keeps: the indexes on (run_id, ord) and (dataset, ord) make a page a range.
    const where = conditions(ledgerFilter(filter, "ord", page.after));
    const rows = await this.db.query<LedgerRow & { position: string }>(
      `SELECT ord::text AS position, * FROM ${this.db.t.ledger}${where.sql} ORDER BY ord LIMIT $${where.params.length + 1}`,
      [...where.params, pageLimit(page.limit)],
    );
    const entries = rows.map(toLedgerEntry);
    const last = rows[rows.length - 1];
    return rows.length < page.limit || !last ? { entries } : { entries, next: last.position };
  }

  async countRepairs(filter: RepairFilter, options: { after?: string | undefined } = {}): Promise<number> {
    const where = conditions(ledgerFilter(filter, "ord", options.after));
    const [row] = await this.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${this.db.t.ledger}${where.sql}`,
      where.params,
    );
    return Number(row?.n ?? 0);
  }

  async listAbandonedRepairs(
    dataset: string,
    options: { staleBefore: number; limit?: number },
  ): Promise<LedgerEntry[]> {
    // Not live: the run's record is finished or its heartbeat (its start, before heartbeats) is stale; with no
    // record (a rollback begins none), the claim's own time counts. Comparisons with the missing run's NULLs
    // are NULL, so each branch applies only where it should.
    const rows = await this.db.query<LedgerRow>(
      `SELECT l.* FROM ${this.db.t.ledger} AS l
         LEFT JOIN ${this.db.t.runs} AS r ON r.id = l.run_id AND r.dataset = l.dataset
       WHERE l.dataset = $1 AND l.outcome = 'pending'
         AND ((r.id IS NULL AND l.updated_at < $2::double precision) OR r.status <> 'running'
           OR coalesce(r.heartbeat_at, r.started_at) < $2::double precision)
       ORDER BY l.ord LIMIT $3`,
      [dataset, options.staleBefore, noLimitIfNegative(options.limit)],
    );
    return rows.map(toLedgerEntry);
  }

  /** The repairs settled inverse writes (`refs`, the settlements that took effect) undid, marked in `c`'s transaction. */
  private async markUndone(c: StateClient, refs: readonly RepairRef[]): Promise<void> {
    if (refs.length === 0) return;
    const settled = [...(await this.rows(c, refs)).values()].map(toLedgerEntry);
    const named = undoneRefs(settled);
    if (named.length === 0) return;
    const originals = new Map([...(await this.rows(c, named))].map(([id, r]) => [id, toLedgerEntry(r)]));
    const undone = undoneBySettled(settled, originals);
    for (const batch of chunks(undone, BATCH_ROWS)) await this.upsert(c, batch);
  }

  /**
   * The ledger rows of these repairs, by id, read inside the caller's transaction; a row whose key is not the
   * one given is left out, as the SQLite ledger, which finds rows by key and id, leaves it.
   */
  private async rows(c: StateClient, refs: readonly RepairRef[]): Promise<Map<string, LedgerRow>> {
    const found = new Map<string, LedgerRow>();
    const keys = refKeys(refs);
    for (const batch of chunks([...keys.keys()], BATCH_ROWS)) {
      const { rows } = await c.query<LedgerRow>(
        `SELECT * FROM ${this.db.t.ledger} WHERE id IN (SELECT json_array_elements_text($1::json))`,
        [textListJson(batch)],
      );
      for (const r of rows) if (keys.get(r.id)?.has(r.key)) found.set(r.id, r);
    }
    return found;
  }

  /** Upserts entries by id (at most one per id), in the order given, inside the caller's transaction. */
  private async upsert(c: StateClient, entries: readonly LedgerEntry[]): Promise<void> {
    const columns = columnNames(LEDGER_COLUMNS);
    await c.query(
      `INSERT INTO ${this.db.t.ledger} (${columns})
       SELECT ${columns} FROM ${recordset(LEDGER_COLUMNS)}
       ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset,
         key = excluded.key, target = excluded.target, expected = excluded.expected,
         next_fingerprint = excluded.next_fingerprint, before_values = excluded.before_values,
         after_values = excluded.after_values, outcome = excluded.outcome, attempts = excluded.attempts,
         error = excluded.error, updated_at = excluded.updated_at, undoes = excluded.undoes,
         before_native = excluded.before_native`,
      [recordsetJson(LEDGER_COLUMNS, entries.map(ledgerRow))],
    );
  }
}

/** The key ids each repair id is asked for with (one, unless a caller names an id under two keys). */
function refKeys(refs: readonly RepairRef[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of refs) {
    const keys = out.get(r.id) ?? new Set<string>();
    keys.add(keyId(r.key));
    out.set(r.id, keys);
  }
  return out;
}

function ownership(row: LedgerRow): LedgerOwnership {
  return { runId: row.run_id, outcome: row.outcome };
}

function settlementRow(s: RepairSettlement) {
  return {
    id: s.id,
    run_id: s.runId,
    outcome: s.outcome,
    attempts: s.attempts,
    error: s.error ?? null,
    updated_at: s.updatedAt,
  };
}

/**
 * A claim as one conditional upsert: a new id is inserted as given (a claimed entry: pending, attempts 1);
 * an existing one is taken over only where claimVerdict says `claim` (not applied, and not pending under
 * another run: the WHERE, the same rule in SQL), pending under the claimer with its attempts counted on and
 * no error. RETURNING names the rows claimed, so each id is looked up once, by the upsert itself.
 */
function claimSql(ledger: string): string {
  const columns = columnNames(LEDGER_COLUMNS);
  return `INSERT INTO ${ledger} AS l (${columns})
     SELECT ${columns} FROM ${recordset(LEDGER_COLUMNS)}
     ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset,
       key = excluded.key, target = excluded.target, expected = excluded.expected,
       next_fingerprint = excluded.next_fingerprint, before_values = excluded.before_values,
       after_values = excluded.after_values, outcome = 'pending', attempts = l.attempts + 1,
       error = NULL, updated_at = excluded.updated_at, undoes = excluded.undoes,
       before_native = excluded.before_native
     WHERE l.outcome <> 'applied' AND (l.outcome <> 'pending' OR l.run_id = excluded.run_id)
     RETURNING l.id, l.attempts`;
}

/**
 * Settlements (no id twice) as one conditional UPDATE: only the outcome columns, and only where
 * settlementTakesEffect says so (the entry is pending under the settling run, or the settlement records a
 * landed write and the entry records none). RETURNING names the rows settled.
 */
function settleSql(ledger: string): string {
  return `UPDATE ${ledger} AS l SET run_id = r.run_id, outcome = r.outcome, attempts = r.attempts,
       error = r.error, updated_at = r.updated_at
     FROM ${recordset(SETTLEMENT_COLUMNS)}
     WHERE l.id = r.id AND ((l.outcome = 'pending' AND l.run_id = r.run_id)
       OR (r.outcome IN ('applied', 'rolled-back') AND l.outcome NOT IN ('applied', 'rolled-back')))
     RETURNING l.id`;
}
