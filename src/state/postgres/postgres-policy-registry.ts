/** The PolicyRegistry port on PostgreSQL: an adoption, its version and its audit entries in one transaction under a lock. */
import type { AuditEntryContent } from "../../core/audit-chain.js";
import type { CurrentPolicy, PolicyAdoption, PolicyRegistry, PolicyVersion } from "../policy-registry.js";
import { prepareAudit } from "../prepared-audit.js";
import { type CurrentRow, currentPolicy, type PolicyRow, toPolicyVersion } from "../state-rows.js";
import type { PostgresAuditLog } from "./postgres-audit-log.js";
import type { StateClient } from "./postgres-state-connection.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresPolicyRegistry implements PolicyRegistry {
  constructor(
    private readonly db: PostgresStateDb,
    private readonly audit: PostgresAuditLog,
  ) {}

  async adoptPolicy(
    version: PolicyVersion,
    audit: (previous: PolicyVersion | undefined) => readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<PolicyAdoption> {
    return this.db.transaction(async (c) => {
      // One adopter at a time per schema: the current version read after the lock is the last holder's.
      await this.db.lock(c, "policies");
      const previous = (await this.current(c, version.dataset))?.policy;
      if (previous?.version === version.version) return { changed: false, previous };
      const prepared = prepareAudit(audit(previous));
      await c.query(
        `INSERT INTO ${this.db.t.policies}
           (dataset, version, text, source, first_used_at, first_used_by, first_run_id)
         VALUES ($1, $2, $3, $4, $5::double precision, $6, $7)
         ON CONFLICT (dataset, version) DO NOTHING`,
        [
          version.dataset,
          version.version,
          version.text,
          version.source,
          String(version.firstUsedAt),
          version.firstUsedBy,
          version.firstRunId,
        ],
      );
      await c.query(
        `INSERT INTO ${this.db.t.currentPolicy} (dataset, version, adopted_at, previous)
         VALUES ($1, $2, $3::double precision, $4)
         ON CONFLICT (dataset) DO UPDATE SET
           version = excluded.version, adopted_at = excluded.adopted_at, previous = excluded.previous`,
        [version.dataset, version.version, String(version.firstUsedAt), previous?.version ?? null],
      );
      await this.audit.insert(c, prepared);
      return { changed: true, previous };
    });
  }

  async listPolicies(dataset?: string): Promise<PolicyVersion[]> {
    const rows =
      dataset === undefined
        ? await this.db.query<PolicyRow>(`SELECT * FROM ${this.db.t.policies} ORDER BY first_used_at, ord`)
        : await this.db.query<PolicyRow>(
            `SELECT * FROM ${this.db.t.policies} WHERE dataset = $1 ORDER BY first_used_at, ord`,
            [dataset],
          );
    return rows.map(toPolicyVersion);
  }

  async getPolicy(dataset: string, version: string): Promise<PolicyVersion | undefined> {
    const [row] = await this.db.query<PolicyRow>(
      `SELECT * FROM ${this.db.t.policies} WHERE dataset = $1 AND version = $2`,
      [dataset, version],
    );
    return row && toPolicyVersion(row);
  }

  async currentPolicy(dataset: string): Promise<CurrentPolicy | undefined> {
    await this.db.ready();
    const client = await this.db.pool.connect();
    try {
      return await this.current(client, dataset);
    } finally {
      client.release();
    }
  }

  private async current(c: StateClient, dataset: string): Promise<CurrentPolicy | undefined> {
    const { rows } = await c.query<CurrentRow>(
      `SELECT * FROM ${this.db.t.currentPolicy} WHERE dataset = $1`,
      [dataset],
    );
    const row = rows[0];
    if (!row) return undefined;
    const { rows: versions } = await c.query<PolicyRow>(
      `SELECT * FROM ${this.db.t.policies} WHERE dataset = $1 AND version IN ($2, $3)`,
      [dataset, row.version, row.previous],
    );
    const get = (version: string | null) => versions.find((v) => v.version === version);
    return currentPolicy(row, get(row.version)!, get(row.previous));
  }
}
