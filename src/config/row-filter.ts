/**
 * Row filters a command adds to a dataset for one run (`--where`, `--min-age`, `--max-age`): each SQL
 * replica's `where` gains the predicate (ANDed with its own), in its dialect. Builds text only: no I/O.
 */
import { ConfigError, type DatasetConfig, type ReplicaConfig } from "./load-config.js";
import { predicateDialect, predicateShapeError } from "./predicate-shape.js";
import { SQL_SCHEMES } from "./schema.js";

/** What to keep: a predicate, and rows by the age of the dataset's timestamp column (`versions.timestamp`). */
export interface RowFilterOptions {
  /** An SQL predicate on the tables' columns, applied on every replica as written. */
  readonly where?: string | undefined;
  /** Only rows whose timestamp is at least this old (ms): `timestamp < now - minAgeMs`. */
  readonly minAgeMs?: number | undefined;
  /** Only rows whose timestamp is at most this old (ms): `timestamp >= now - maxAgeMs`. */
  readonly maxAgeMs?: number | undefined;
  /** The time ages are measured from (ms since the epoch). */
  readonly now: number;
}

function schemeOf(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase();
}

function quoteIdent(scheme: string, name: string): string {
  return scheme === "mysql" || scheme === "mariadb"
    ? `\`${name.replaceAll("`", "``")}\``
    : `"${name.replaceAll('"', '""')}"`;
}

/**
 * `column <op> cutoff` in the replica's dialect, the cutoff as UTC: PostgreSQL reads the literal as the
 * column's own type (an instant for timestamptz, UTC wall time for timestamp); MariaDB/MySQL compare in the
 * session's UTC time zone; SQLite compares epoch seconds for numbers and julianday() for ISO 8601 text.
 * A row whose timestamp is NULL matches neither bound.
 */
function agePredicate(scheme: string, column: string, op: "<" | ">=", cutoff: number): string {
  const iso = new Date(cutoff).toISOString();
  const c = quoteIdent(scheme, column);
  switch (scheme) {
    case "postgres":
    case "postgresql":
      return `${c} ${op} '${iso.replace("T", " ").replace("Z", "+00")}'`;
    case "mysql":
    case "mariadb":
      return `${c} ${op} '${iso.replace("T", " ").replace("Z", "")}'`;
    default:
      return (
        `(CASE WHEN typeof(${c}) IN ('integer', 'real') THEN ${c} ${op} ${cutoff / 1000} ` +
        `ELSE julianday(${c}) ${op} julianday('${iso}') END)`
      );
  }
}

/**
 * The dataset with the filters added to every replica's `where`. Throws ConfigError (one line) when a
 * replica cannot apply an SQL predicate (Redis, memory: its records would all look missing elsewhere) or an
 * age is asked of a dataset without a timestamp column. No filter asked: the dataset as it is.
 */
export function withRowFilter(ds: DatasetConfig, options: RowFilterOptions): DatasetConfig {
  const flags = [
    options.where !== undefined ? "--where" : "",
    options.minAgeMs !== undefined ? "--min-age" : "",
    options.maxAgeMs !== undefined ? "--max-age" : "",
  ].filter(Boolean);
  if (flags.length === 0) return ds;
  const shape = options.where === undefined ? undefined : predicateShapeError(options.where);
  if (shape) throw new ConfigError(`--where: ${shape}`);
  const column = ds.versions.timestamp;
  if ((options.minAgeMs !== undefined || options.maxAgeMs !== undefined) && column === undefined)
    throw new ConfigError(
      `${flags.filter((f) => f !== "--where").join(", ")}: dataset ${ds.name} declares no timestamp column to measure age by (versions.timestamp)`,
    );
  const replicas = ds.replicas.map((r): ReplicaConfig => {
    const scheme = schemeOf(r.url);
    if (!SQL_SCHEMES.includes(scheme))
      throw new ConfigError(
        `${flags.join(", ")}: replica ${ds.name}.${r.name} (${scheme}:) cannot apply an SQL predicate; its records would all look missing elsewhere (leave out dataset ${ds.name} with -d)`,
      );
    const dialectShape =
      options.where === undefined ? undefined : predicateShapeError(options.where, predicateDialect(scheme));
    if (dialectShape) throw new ConfigError(`--where: ${dialectShape} (replica ${ds.name}.${r.name})`);
    const parts = [r.where, options.where];
    if (options.minAgeMs !== undefined)
      parts.push(agePredicate(scheme, column!, "<", options.now - options.minAgeMs));
    if (options.maxAgeMs !== undefined)
      parts.push(agePredicate(scheme, column!, ">=", options.now - options.maxAgeMs));
    const kept = parts.filter((p): p is string => p !== undefined);
    return { ...r, where: kept.length === 1 ? kept[0] : kept.map((p) => `(${p})`).join(" AND ") };
  });
  return { ...ds, replicas };
}
