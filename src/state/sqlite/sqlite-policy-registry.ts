/** The PolicyRegistry port on SQLite: an adoption, its version and its audit entries in one IMMEDIATE transaction. */
import type { AuditEntryContent } from "../../core/audit-chain.js";
import type { CurrentPolicy, PolicyAdoption, PolicyRegistry, PolicyVersion } from "../policy-registry.js";
import { prepareAudit } from "../prepared-audit.js";
import { type CurrentRow, currentPolicy, type PolicyRow, policyRow, toPolicyVersion } from "../state-rows.js";
import type { SqliteAuditLog } from "./sqlite-audit-log.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqlitePolicyRegistry implements PolicyRegistry {
  constructor(
    private readonly s: SqliteStateDb,
    private readonly audit: SqliteAuditLog,
  ) {}

  async adoptPolicy(
    version: PolicyVersion,
    audit: (previous: PolicyVersion | undefined) => readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<PolicyAdoption> {
    return this.s.immediate(() => {
      const previous = this.current(version.dataset)?.policy;
      if (previous?.version === version.version) return { changed: false, previous };
      // Encoded before any write, so an event with no JSON form leaves nothing half-written.
      const prepared = prepareAudit(audit(previous));
      this.s
        .prepare(
          `INSERT INTO policy_versions (dataset, version, text, source, first_used_at, first_used_by, first_run_id)
           VALUES (@dataset, @version, @text, @source, @first_used_at, @first_used_by, @first_run_id)
           ON CONFLICT (dataset, version) DO NOTHING`,
        )
        .run(policyRow(version));
      this.s
        .prepare(
          `INSERT INTO policy_current (dataset, version, adopted_at, previous) VALUES (?, ?, ?, ?)
           ON CONFLICT (dataset) DO UPDATE SET
             version = excluded.version, adopted_at = excluded.adopted_at, previous = excluded.previous`,
        )
        .run(version.dataset, version.version, version.firstUsedAt, previous?.version ?? null);
      this.audit.insert(prepared);
      return { changed: true, previous };
    });
  }

  async listPolicies(dataset?: string): Promise<PolicyVersion[]> {
    const rows = (
      dataset === undefined
        ? this.s.prepare("SELECT * FROM policy_versions ORDER BY first_used_at, rowid").all()
        : this.s
            .prepare("SELECT * FROM policy_versions WHERE dataset = ? ORDER BY first_used_at, rowid")
            .all(dataset)
    ) as PolicyRow[];
    return rows.map(toPolicyVersion);
  }

  async getPolicy(dataset: string, version: string): Promise<PolicyVersion | undefined> {
    const row = this.s
      .prepare("SELECT * FROM policy_versions WHERE dataset = ? AND version = ?")
      .get(dataset, version) as PolicyRow | undefined;
    return row && toPolicyVersion(row);
  }

  async currentPolicy(dataset: string): Promise<CurrentPolicy | undefined> {
    return this.current(dataset);
  }

  private current(dataset: string): CurrentPolicy | undefined {
    const row = this.s.prepare("SELECT * FROM policy_current WHERE dataset = ?").get(dataset) as
      | CurrentRow
      | undefined;
    if (!row) return undefined;
    const get = (version: string) =>
      this.s
        .prepare("SELECT * FROM policy_versions WHERE dataset = ? AND version = ?")
        .get(dataset, version) as PolicyRow | undefined;
    return currentPolicy(row, get(row.version)!, row.previous === null ? undefined : get(row.previous));
  }
}
