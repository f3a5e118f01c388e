/**
 * The PostgreSQL change feed's publication: which columns it carries, and creating or refitting it on the
 * server. Knows nothing of slots or streams.
 */
import type { Client } from "pg";

/** The table's replica identity as `pg_class.relreplident` says it, and the identity's columns. */
export interface ReplicaIdentity {
  /** `d` default (the primary key), `i` an index, `f` full (every column), `n` nothing. */
  readonly kind: string;
  readonly columns: readonly string[];
}

/**
 * The columns a feed's publication carries, or undefined for the whole row. The feed reads only the key
 * from a change, so from PostgreSQL 15 on the publication lists the key columns and the replica identity's
 * (PostgreSQL refuses UPDATE and DELETE on a table whose publication's list does not cover its identity):
 * the walsender then converts and sends only those, which saves it the output functions and bytes of every
 * other column on every change. Under `REPLICA IDENTITY FULL` a list would have to name every column, so
 * the whole row is published, as before PostgreSQL 15.
 */
export function publishedColumns(
  keyColumns: readonly string[],
  identity: ReplicaIdentity,
  serverVersionNum: number,
): readonly string[] | undefined {
  if (serverVersionNum < 150000 || identity.kind === "f" || identity.kind === "n") return undefined;
  return [...new Set([...keyColumns, ...identity.columns])];
}

/**
 * Makes publication `name` publish `table` with the columns `publishedColumns` gives: created when missing;
 * an existing one (an older Concord's whole-row publication, a list that no longer fits the identity, a
 * table dropped and created again since) is set to them with `ALTER PUBLICATION … SET TABLE`, unless
 * another role owns it (then it serves as it is, as before column lists). Before PostgreSQL 15 an existing
 * publication is left as it is.
 */
export async function ensureFeedPublication(
  admin: Client,
  name: string,
  table: string,
  keyColumns: readonly string[],
  identity: ReplicaIdentity,
): Promise<void> {
  const version = await serverVersionNum(admin);
  const columns = publishedColumns(keyColumns, identity, version);
  const target = `${table}${columns ? ` (${columns.map(quoteIdent).join(", ")})` : ""}`;
  if (version < 150000) {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name]);
    if (!rowCount) await createPublication(admin, name, target);
    return;
  }
  // The table's entry in the publication, if any, and its column list (null: the whole row).
  const { rows } = await admin.query<{ member: boolean; columns: string[] | null }>(
    `SELECT r.oid IS NOT NULL AS member,
            (SELECT array_agg(a.attname::text) FROM pg_attribute a
              WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs::int2[])) AS columns
       FROM pg_publication p
       LEFT JOIN pg_publication_rel r ON r.prpubid = p.oid AND r.prrelid = to_regclass($2)
      WHERE p.pubname = $1`,
    [name, table],
  );
  const found = rows[0];
  if (!found) return createPublication(admin, name, target);
  const same =
    found.member &&
    JSON.stringify(found.columns ? [...found.columns].sort() : null) ===
      JSON.stringify(columns ? [...columns].sort() : null);
  if (same) return;
  try {
    await admin.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${target}`);
  } catch (err) {
    // A publication someone else made and owns (created for a role that may not): it serves as it is.
    if ((err as { code?: string }).code !== "42501") throw err;
  }
}

/**
 * Sets an existing publication `name` back to `table`'s whole row (nothing when there is none, or before
 * PostgreSQL 15). Called before the feed refuses a key outside the replica identity: the fix it names,
 * `REPLICA IDENTITY FULL`, would otherwise make PostgreSQL refuse every UPDATE and DELETE on the table
 * while an older key-only list stands.
 */
export async function widenFeedPublication(admin: Client, name: string, table: string): Promise<void> {
  if ((await serverVersionNum(admin)) < 150000) return;
  const { rowCount } = await admin.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name]);
  if (rowCount) await admin.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${table}`);
}

async function serverVersionNum(admin: Client): Promise<number> {
  const { rows } = await admin.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
  return rows[0]!.v;
}

async function createPublication(admin: Client, name: string, target: string): Promise<void> {
  try {
    await admin.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${target}`);
  } catch (err) {
    // Another process created it at the same moment: theirs serves.
    if ((err as { code?: string }).code !== "42710") throw err;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
