/**
 * The PostgreSQL change feed's publication: creating it, or refitting one that no longer publishes the table.
 * Knows nothing of slots or streams.
 *
 * It publishes the table's whole row. A PostgreSQL 15 column list naming only the key would save the
 * walsender about 40% of its decoding on wide rows and nothing measurable on narrow ones (docs/benchmarks.md,
 * "The store side of watching, per write"), but PostgreSQL refuses every UPDATE and DELETE on a table whose
 * publication's list does not cover its replica identity: a later change of the identity or the primary key
 * would break the application's writes. A watcher does not make that trade.
 */
import type { Client } from "pg";

/**
 * Makes publication `name` publish `table`'s whole row: created when missing; an existing one that does not
 * hold the table (dropped and created again since: the drop took it out of the publication, and the feed
 * would stream nothing) or holds it under a column list is set to it with `ALTER PUBLICATION … SET TABLE`,
 * unless another role owns it (then it serves as it is).
 */
export async function ensureFeedPublication(admin: Client, name: string, table: string): Promise<void> {
  // Column lists (pg_publication_rel.prattrs) exist from PostgreSQL 15 on.
  const lists = (await serverVersionNum(admin)) >= 150000;
  const { rows } = await admin.query<{ member: boolean; listed: boolean }>(
    `SELECT r.oid IS NOT NULL AS member, ${lists ? "r.prattrs IS NOT NULL" : "false"} AS listed
       FROM pg_publication p
       LEFT JOIN pg_publication_rel r ON r.prpubid = p.oid AND r.prrelid = to_regclass($2)
      WHERE p.pubname = $1`,
    [name, table],
  );
  const found = rows[0];
  if (!found) return createPublication(admin, name, table);
  if (found.member && !found.listed) return;
  try {
    await admin.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${table}`);
  } catch (err) {
    // A publication someone else made and owns (created for a role that may not): it serves as it is.
    if ((err as { code?: string }).code !== "42501") throw err;
  }
}

async function serverVersionNum(admin: Client): Promise<number> {
  const { rows } = await admin.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
  return rows[0]!.v;
}

async function createPublication(admin: Client, name: string, table: string): Promise<void> {
  try {
    await admin.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${table}`);
  } catch (err) {
    // Another process created it at the same moment: theirs serves.
    if ((err as { code?: string }).code !== "42710") throw err;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
