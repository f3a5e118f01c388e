/**
 * Two SQLite replicas `a` and `b` of a versioned `items` table, with a config over them, for tests of runs,
 * serve and the audit that need real stores but no server. Tests only.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type ConcordConfig, parseConfig } from "../../src/config/load-config.js";

export interface ItemsOptions {
  /** Rows per replica, ids 1…rows (default 1,000). */
  readonly rows?: number;
  /** Keys b holds at version 1 (`old <id>`) while a holds version 2. */
  readonly stale?: readonly number[];
  /** Keys a and b hold with different values at the same version (conflicts). */
  readonly conflict?: readonly number[];
}

/** Creates `a.db` and `b.db` in `dir`, each with `items (id, name, version)`. */
export function makeItemsReplicas(dir: string, options: ItemsOptions = {}): void {
  const rows = options.rows ?? 1000;
  const stale = new Set(options.stale ?? []);
  const conflict = new Set(options.conflict ?? []);
  for (const name of ["a", "b"]) {
    const db = new Database(join(dir, `${name}.db`));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)");
    const insert = db.prepare("INSERT INTO items VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) {
        const old = name === "b" && stale.has(i);
        const value = old ? `old ${i}` : conflict.has(i) ? `${name} ${i}` : `item ${i}`;
        insert.run(i, value, old ? 1 : 2);
      }
    })();
    db.close();
  }
}

/**
 * A config over a and b: state in `state.db`, counter versions; `policy` is the policy's flow mapping body
 * (default `owner: a, resolve: highest-version`), `extra` more dataset lines, `top` more top-level lines.
 */
export function itemsYaml(options: { policy?: string; extra?: string; top?: string } = {}): string {
  return `state: sqlite:state.db
${options.top ?? ""}datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { ${options.policy ?? "owner: a, resolve: highest-version"} }
${options.extra ?? ""}`;
}

/** Writes `concord.yaml` (itemsYaml) into `dir` and returns its path. */
export function writeItemsConfig(dir: string, options: Parameters<typeof itemsYaml>[0] = {}): string {
  const path = join(dir, "concord.yaml");
  writeFileSync(path, itemsYaml(options));
  return path;
}

/** The parsed config (itemsYaml) as if read from `dir/concord.yaml`. */
export function itemsConfig(dir: string, options: Parameters<typeof itemsYaml>[0] = {}): ConcordConfig {
  return parseConfig(itemsYaml(options), join(dir, "concord.yaml"));
}

/** Ids b holds at version 1 (not yet repaired), in order. */
export function staleOnB(dir: string): number[] {
  const db = new Database(join(dir, "b.db"), { readonly: true });
  try {
    return (db.prepare("SELECT id FROM items WHERE version = 1 ORDER BY id").all() as { id: number }[]).map(
      (r) => r.id,
    );
  } finally {
    db.close();
  }
}
