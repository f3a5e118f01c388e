/** Builds the demo: two SQLite replicas of a small shop database with seeded divergence of every class. */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { seededRandom } from "../core/random.js";
import { makeDirs } from "../runtime/make-dirs.js";

/** What the demo seeded, so the report can say what to expect. */
export interface DemoLayout {
  readonly dir: string;
  readonly config: string;
  readonly primary: string;
  readonly replica: string;
  readonly rows: Readonly<Record<string, number>>;
}

const BASE = Date.UTC(2026, 0, 1);
const FIRST = [
  "Ada",
  "Grace",
  "Alan",
  "Edsger",
  "Barbara",
  "Donald",
  "Leslie",
  "Frances",
  "Ken",
  "Radia",
  "Tim",
  "Margaret",
];
const LAST = [
  "Lovelace",
  "Hopper",
  "Turing",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Lamport",
  "Allen",
  "Thompson",
  "Perlman",
];
const TIERS = ["free", "pro", "team", "enterprise"];

function iso(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

/** How the demo's concord.yaml starts: what tells an earlier demo's folder from anyone else's. */
export const DEMO_CONFIG_HEAD = "# Concord demo: two SQLite replicas of a shop database";
/** The files the demo deletes and makes again in its folder (besides concord.yaml). */
export const DEMO_FILES = ["primary.db", "replica.db", "state.db"];

const CONFIG = `${DEMO_CONFIG_HEAD} (see README.md).
state: sqlite:state.db
datasets:
  customers:
    key: id
    versions: { counter: version, timestamp: updated_at }
    replicas:
      primary: { url: "sqlite:primary.db", table: customers }
      replica: { url: "sqlite:replica.db", table: customers }
    policy:
      owner: primary
      resolve: highest-version
      tolerance: { balance: 0.005 }
      window: 30s
  products:
    key: sku
    versions: { timestamp: updated_at }
    replicas:
      primary: { url: "sqlite:primary.db", table: products }
      replica: { url: "sqlite:replica.db", table: products }
    policy:
      resolve: lww
  settings:
    key: [scope, name]
    replicas:
      primary: { url: "sqlite:primary.db", table: settings }
      replica: { url: "sqlite:replica.db", table: settings }
`;

/**
 * Creates `dir` afresh with primary.db, replica.db (identical, then drifted) and concord.yaml.
 * `now` dates the in-flight changes. Deterministic apart from `now`.
 */
export function createDemo(dir: string, now: number): DemoLayout {
  makeDirs(dir);
  for (const f of DEMO_FILES) {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(dir, f + suffix), { force: true });
  }
  const rand = seededRandom(20261127);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const customers = 5000;
  const products = 400;

  const primaryPath = join(dir, "primary.db");
  const replicaPath = join(dir, "replica.db");
  const primary = new Database(primaryPath);
  primary.pragma("journal_mode = WAL");
  primary.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, balance DECIMAL(12,2) NOT NULL,
      tier TEXT NOT NULL, active BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL);
    CREATE TABLE products (sku TEXT PRIMARY KEY, title TEXT NOT NULL, price DECIMAL(10,2) NOT NULL, stock INTEGER NOT NULL,
      updated_at TIMESTAMP NOT NULL);
    CREATE TABLE settings (scope TEXT NOT NULL, name TEXT NOT NULL, value TEXT, PRIMARY KEY (scope, name)) WITHOUT ROWID;`);
  const insCustomer = primary.prepare("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const insProduct = primary.prepare("INSERT INTO products VALUES (?, ?, ?, ?, ?)");
  const insSetting = primary.prepare("INSERT INTO settings VALUES (?, ?, ?)");
  primary.transaction(() => {
    for (let id = 1; id <= customers; id++) {
      const first = pick(FIRST);
      const last = pick(LAST);
      const balance = (Math.floor(rand() * 1_000_000) / 100).toFixed(2);
      insCustomer.run(
        id,
        `${first} ${last}`,
        `${first}.${last}${id}@example.com`.toLowerCase(),
        balance,
        pick(TIERS),
        rand() < 0.9 ? 1 : 0,
        iso(BASE + id * 60_000),
        1 + Math.floor(rand() * 5),
      );
    }
    for (let i = 1; i <= products; i++) {
      insProduct.run(
        `SKU-${String(i).padStart(5, "0")}`,
        `Product ${i}`,
        (5 + rand() * 200).toFixed(2),
        Math.floor(rand() * 500),
        iso(BASE + i * 3_600_000),
      );
    }
    for (const scope of ["global", "eu", "us"]) {
      for (const name of ["currency", "tax_rate", "support_email", "feature_flags", "max_cart_items"]) {
        insSetting.run(scope, name, `${scope}:${name}:${Math.floor(rand() * 100)}`);
      }
    }
  })();
  primary.close();
  // The replica starts as an exact copy of the primary.
  const copy = new Database(primaryPath, { readonly: true });
  copy.exec(`VACUUM INTO '${replicaPath.replaceAll("'", "''")}'`);
  copy.close();

  const p = new Database(primaryPath);
  const r = new Database(replicaPath);
  r.pragma("journal_mode = WAL");
  const day = 86_400_000;
  // missing: rows the replica lost, and rows only the replica has.
  r.prepare("DELETE FROM customers WHERE id IN (101, 2002, 4003)").run();
  r.prepare(
    "INSERT INTO customers VALUES (5001, 'Grace Hopper', 'grace.hopper5001@example.com', '12.00', 'pro', 1, ?, 1)",
  ).run(iso(BASE + 2 * day));
  // stale: the primary moved on, the replica did not follow.
  for (const id of [205, 1310, 2718, 3141]) {
    p.prepare(
      "UPDATE customers SET email = 'new.' || email, version = version + 1, updated_at = ? WHERE id = ?",
    ).run(iso(BASE + 40 * day + id), id);
  }
  // conflict: same version, different values (two writers, no ordering).
  for (const id of [404, 1999])
    r.prepare("UPDATE customers SET name = name || ' (edited)' WHERE id = ?").run(id);
  // regression: the replica was ahead at the first scan, then restored from an old backup (see runDemo).
  r.prepare(
    "UPDATE customers SET tier = 'enterprise', version = version + 2, updated_at = ? WHERE id = 77",
  ).run(iso(BASE + 50 * day));
  // in-flight: written on the primary seconds ago; replication has not caught up yet.
  for (const id of [4500, 4501]) {
    p.prepare(
      "UPDATE customers SET balance = balance + 10, version = version + 1, updated_at = ? WHERE id = ?",
    ).run(iso(now - 3000), id);
  }
  // tolerated: rounding noise within the declared 0.005 balance tolerance.
  for (const id of [777, 3333])
    r.prepare("UPDATE customers SET balance = balance + 0.001 WHERE id = ?").run(id);

  // products: LWW by updated_at; the replica has an extra column (schema divergence).
  r.exec("ALTER TABLE products ADD COLUMN discontinued BOOLEAN");
  for (const sku of ["SKU-00042", "SKU-00314"]) {
    p.prepare("UPDATE products SET stock = stock + 5, updated_at = ? WHERE sku = ?").run(
      iso(BASE + 100 * day),
      sku,
    );
  }
  r.prepare("UPDATE products SET price = price + 1 WHERE sku = 'SKU-00100'").run();

  // settings: no version metadata at all.
  r.prepare("UPDATE settings SET value = 'USD' WHERE scope = 'eu' AND name = 'currency'").run();
  r.prepare("UPDATE settings SET value = NULL WHERE scope = 'us' AND name = 'tax_rate'").run();
  r.prepare("DELETE FROM settings WHERE scope = 'global' AND name = 'feature_flags'").run();
  p.close();
  r.close();

  const config = join(dir, "concord.yaml");
  writeFileSync(config, CONFIG);
  return {
    dir,
    config,
    primary: primaryPath,
    replica: replicaPath,
    rows: { customers, products, settings: 15 },
  };
}

/** The backup restore that makes customer 77 go back in time on the replica (after the first scan saw it). */
export function restoreOldBackup(layout: DemoLayout): void {
  const r = new Database(layout.replica);
  r.prepare("UPDATE customers SET tier = 'free', version = version - 3 WHERE id = 77").run();
  r.close();
}
