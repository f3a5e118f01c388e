/**
 * SQLite change feed: triggers on the table write each changed key into a change table in the same file,
 * which the feed polls (cheaply: only when `PRAGMA data_version` says another connection committed).
 */
import Database from "better-sqlite3";
import { ChangeBuffer } from "../change-buffer.js";
import {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
  feedObjectName,
  keyPart,
} from "../change-feed.js";
import { sqliteLogicalType } from "./sqlite-column-types.js";

/** How often the change table is looked at. */
const POLL_MS = 100;
/** Rows read from the change table at a time. */
const READ_ROWS = 1000;

/**
 * A feed over one SQLite table. The file must be writable (the triggers and the change table are created in
 * it, named `concord_<dataset>_<replica>…`); positions are the change table's sequence numbers, and
 * acknowledged rows are deleted, so the table holds only what is not yet checked.
 */
export class SqliteChangeFeed implements ChangeFeed {
  readonly label: string;
  private readonly buffer: ChangeBuffer;
  private readonly name: string;
  private db: Database.Database | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  /** The sequence number `start` began after (see ChangeFeed.startedAt). */
  private began: number | undefined;
  private version = -1;

  constructor(
    private readonly path: string,
    private readonly table: string,
    private readonly options: ChangeFeedOptions,
  ) {
    this.label = options.label;
    this.buffer = new ChangeBuffer(options.bufferKeys);
    this.name = feedObjectName(options.dataset, options.replica);
  }

  async start(from: string | undefined): Promise<void> {
    const db = this.open();
    const installed = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?")
      .get(`${this.name}_ins`);
    const changes = q(`${this.name}_changes`);
    if (!installed) this.install(db);
    const top = (db.prepare(`SELECT coalesce(max(seq), 0) AS top FROM ${changes}`).get() as { top: number })
      .top;
    if (from === undefined) {
      // Triggers already there were installed by a start whose position was never stored (the process died
      // first): the rows they wrote since are changes nobody checked, so they are delivered too.
      this.last = installed ? 0 : top;
    } else if (!installed) {
      this.last = Number(from);
      this.buffer.open(`the change triggers on ${this.table} were missing; created them again`, String(top));
    } else {
      // The table's AUTOINCREMENT never hands out a number twice, so a stored position beyond the highest it
      // gave cannot be this file's: the file was replaced or restored from a copy (or the stored position
      // edited), and the changes numbered up to it since would be skipped as already checked.
      const high = Math.max(
        top,
        (
          db.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?").get(`${this.name}_changes`) as
            | { seq: number }
            | undefined
        )?.seq ?? 0,
      );
      const seq = /^\d+$/.test(from) ? Number(from) : undefined;
      this.last = seq ?? top;
      if (seq === undefined)
        this.buffer.open(`the stored position ${JSON.stringify(from)} is not a sequence number`, String(top));
      else if (seq > high) {
        this.last = top;
        this.buffer.open(
          `the stored position ${seq} is past the change table's last sequence number ${high} (the file was replaced or restored from a copy)`,
          String(top),
        );
      }
    }
    this.began = this.last;
    // Rows at or before the stored position were checked before a crash cut the acknowledgement short.
    db.prepare(`DELETE FROM ${changes} WHERE seq <= ?`).run(this.last);
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
    this.poll();
  }

  startedAt(): string | undefined {
    return this.began === undefined ? undefined : String(this.began);
  }

  take(options: { maxKeys: number; waitMs: number; signal?: AbortSignal }): Promise<ChangeBatch> {
    return this.buffer.take(options);
  }

  async acknowledge(position: string): Promise<void> {
    this.db?.prepare(`DELETE FROM ${q(`${this.name}_changes`)} WHERE seq <= ?`).run(Number(position));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.db?.open) this.db.close();
    this.db = undefined;
  }

  /** Removes the triggers and the change table. */
  async drop(): Promise<void> {
    await this.close();
    const db = this.open();
    try {
      db.exec(
        `DROP TRIGGER IF EXISTS ${q(`${this.name}_ins`)}; DROP TRIGGER IF EXISTS ${q(`${this.name}_upd`)};
         DROP TRIGGER IF EXISTS ${q(`${this.name}_del`)}; DROP TABLE IF EXISTS ${q(`${this.name}_changes`)};`,
      );
    } finally {
      await this.close();
    }
  }

  private open(): Database.Database {
    try {
      this.db = new Database(this.path, { fileMustExist: true, timeout: 5000 });
      return this.db;
    } catch (err) {
      throw new ChangeFeedError(
        `sqlite replica '${this.label}': cannot open ${this.path} for writing (change feeds add triggers to it): ${(err as Error).message}`,
      );
    }
  }

  private install(db: Database.Database): void {
    const cols = db.prepare(`SELECT name, type FROM pragma_table_info(?)`).all(this.table) as {
      name: string;
      type: string;
    }[];
    if (!cols.length)
      throw new ChangeFeedError(`sqlite replica '${this.label}': table ${this.table} does not exist`);
    const missing = this.options.keyColumns.filter((k) => !cols.some((c) => c.name === k));
    if (missing.length)
      throw new ChangeFeedError(
        `sqlite replica '${this.label}': table ${this.table} has no key column ${missing.join(", ")}`,
      );
    // A BLOB key part is logged as its lowercase hex (its text would be the bytes decoded as UTF-8).
    const bytes = new Set(cols.filter((c) => sqliteLogicalType(c.type) === "bytes").map((c) => c.name));
    const part = (row: string, k: string) =>
      bytes.has(k)
        ? `CASE WHEN ${row}.${q(k)} IS NULL THEN NULL ELSE lower(hex(${row}.${q(k)})) END`
        : `CAST(${row}.${q(k)} AS TEXT)`;
    const key = (row: "NEW" | "OLD") =>
      `json_array(${this.options.keyColumns.map((k) => part(row, k)).join(", ")})`;
    const changes = q(`${this.name}_changes`);
    const t = q(this.table);
    db.transaction(() => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${changes} (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
         CREATE TRIGGER IF NOT EXISTS ${q(`${this.name}_ins`)} AFTER INSERT ON ${t}
           BEGIN INSERT INTO ${changes} (key) VALUES (${key("NEW")}); END;
         CREATE TRIGGER IF NOT EXISTS ${q(`${this.name}_upd`)} AFTER UPDATE ON ${t}
           BEGIN INSERT INTO ${changes} (key) VALUES (${key("NEW")});
                 INSERT INTO ${changes} (key) SELECT ${key("OLD")} WHERE ${key("OLD")} <> ${key("NEW")}; END;
         CREATE TRIGGER IF NOT EXISTS ${q(`${this.name}_del`)} AFTER DELETE ON ${t}
           BEGIN INSERT INTO ${changes} (key) VALUES (${key("OLD")}); END;`,
      );
    }).immediate();
  }

  private poll(): void {
    const db = this.db;
    if (!db?.open) return;
    try {
      const version = db.pragma("data_version", { simple: true }) as number;
      if (version === this.version) return;
      const read = db.prepare(
        `SELECT seq, key FROM ${q(`${this.name}_changes`)} WHERE seq > ? ORDER BY seq LIMIT ?`,
      );
      for (;;) {
        const rows = read.all(this.last, READ_ROWS) as { seq: number; key: string }[];
        for (const r of rows) {
          const parts = (JSON.parse(r.key) as unknown[]).map((v) => keyPart(v) ?? "");
          this.buffer.push([parts], String(r.seq));
          this.last = r.seq;
        }
        if (rows.length < READ_ROWS) break;
      }
      this.version = version;
    } catch (err) {
      this.buffer.fail(
        new ChangeFeedError(
          `sqlite replica '${this.label}': reading the change table: ${(err as Error).message}`,
        ),
      );
    }
  }
}

function q(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
