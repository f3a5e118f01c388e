/**
 * MariaDB/MySQL change feed: the row-format binlog, read as a replica would (zongji), filtered to one table.
 * Positions are binlog file and offset at transaction boundaries; the server's binlog retention, not the
 * feed, decides how long they stay readable.
 */
import { randomInt } from "node:crypto";
import type ZongJi from "@vlasky/zongji";
import mysql from "mysql2/promise";
import { redactText, redactUrl } from "../../config/redact.js";
import type { Key } from "../../core/model.js";
import { ChangeBuffer } from "../change-buffer.js";
import {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
  keyPart,
} from "../change-feed.js";

/** A binlog position: the file and the offset after a whole transaction. */
interface BinlogPosition {
  readonly file: string;
  readonly pos: number;
}

type Row = Record<string, unknown>;

/**
 * A feed over one MariaDB/MySQL table. Needs `log_bin` on, `binlog_format=ROW`, `binlog_row_image=FULL`
 * (or NOBLOB) and a user with REPLICATION SLAVE and REPLICATION CLIENT (and SELECT on the table, to read
 * its column names). Each start connects with a random server id, so two feeds never evict each other.
 */
export class MysqlChangeFeed implements ChangeFeed {
  readonly label: string;
  private readonly buffer: ChangeBuffer;
  private readonly database: string;
  private readonly table: string;
  private zongji: ZongJi | undefined;
  /** The binlog position `start` began reading at (see ChangeFeed.startedAt). */
  private began: string | undefined;
  private inTransaction: Key[] | undefined;

  constructor(
    private readonly url: string,
    table: string,
    private readonly options: ChangeFeedOptions,
  ) {
    this.label = options.label;
    this.buffer = new ChangeBuffer(options.bufferKeys);
    const u = new URL(url.replace(/^mariadb:/, "mysql:"));
    const qualified = /^`?([^`.]+)`?\.`?([^`]+)`?$/.exec(table);
    this.database = qualified?.[1] ?? decodeURIComponent(u.pathname.replace(/^\//, ""));
    this.table = qualified?.[2] ?? table.replace(/^`|`$/g, "");
    if (!this.database) this.fail(`no database selected for table ${table} (name it in the URL path)`);
  }

  async start(from: string | undefined): Promise<void> {
    const start = await this.startingPoint(from);
    // Imported here, not at the top: zongji is an ES module only, which the CLI's CommonJS bundle cannot
    // require on Node 20; a dynamic import works from both builds (scripts/bundle-cli.mjs).
    const { default: ZongJiFeed } = await import("@vlasky/zongji");
    const zongji = new ZongJiFeed(this.connectionOptions());
    this.zongji = zongji;
    zongji.on("binlog", (event: BinlogEvent) => this.onEvent(zongji, event));
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      zongji.on("ready", () => {
        ready = true;
        resolve();
      });
      zongji.on("error", (err: Error) => {
        const e = new ChangeFeedError(
          `mysql replica '${this.label}': binlog: ${redactText(err.message)}`,
          true,
        );
        this.buffer.fail(e);
        if (!ready) reject(e);
      });
      zongji.start({
        serverId: randomInt(1_000_000, 2 ** 31),
        ...start,
        includeEvents: ["tablemap", "writerows", "updaterows", "deleterows", "xid", "query"],
        includeSchema: { [this.database]: [this.table] },
      });
    }).catch(async (err: unknown) => {
      await this.close();
      throw err;
    });
  }

  /** The server keeps the binlog from there by its own retention (a purged start opens a gap). */
  startedAt(): string | undefined {
    return this.began;
  }

  take(options: { maxKeys: number; waitMs: number; signal?: AbortSignal }): Promise<ChangeBatch> {
    return this.buffer.take(options);
  }

  /** Nothing to release: the server keeps binlogs by its own retention (binlog_expire_logs_seconds). */
  async acknowledge(): Promise<void> {}

  async close(): Promise<void> {
    const zongji = this.zongji;
    this.zongji = undefined;
    if (zongji) {
      zongji.removeAllListeners("binlog");
      await new Promise<void>((resolve) => {
        zongji.once("stopped", () => resolve());
        zongji.on("error", () => {});
        zongji.stop();
        setTimeout(resolve, 2000).unref();
      });
    }
  }

  /** A binlog reader leaves nothing on the server. */
  async drop(): Promise<void> {
    await this.close();
  }

  private fail(detail: string): never {
    throw new ChangeFeedError(`mysql replica '${this.label}': ${detail}`);
  }

  private connectionOptions(): mysql.ConnectionOptions {
    const u = new URL(this.url.replace(/^mariadb:/, "mysql:"));
    return {
      host: u.hostname,
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      connectTimeout: 10_000,
    };
  }

  /** Checks the server's settings; where to start: after `from`, or at the end (a purged `from` opens a gap). */
  private async startingPoint(
    from: string | undefined,
  ): Promise<{ filename: string; position: number } | { startAtEnd: true }> {
    let conn: mysql.Connection;
    try {
      conn = await mysql.createConnection(this.connectionOptions());
    } catch (err) {
      throw new ChangeFeedError(
        `mysql replica '${this.label}': cannot connect to ${redactUrl(this.url)}: ${redactText((err as Error).message)}`,
        true,
      );
    }
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image",
      );
      const s = rows[0]!;
      if (Number(s.log_bin) !== 1)
        this.fail("log_bin is OFF; change feeds need log_bin=ON with binlog_format=ROW and a server_id");
      if (String(s.format).toUpperCase() !== "ROW")
        this.fail(`binlog_format is ${s.format}; change feeds need binlog_format=ROW`);
      if (!["FULL", "NOBLOB"].includes(String(s.image).toUpperCase()))
        this.fail(`binlog_row_image is ${s.image}; change feeds need binlog_row_image=FULL`);
      let logs: { name: string; size: number }[];
      try {
        const [list] = await conn.query<mysql.RowDataPacket[]>("SHOW BINARY LOGS");
        logs = list.map((r) => ({ name: String(r.Log_name), size: Number(r.File_size) }));
      } catch (err) {
        this.fail(
          `cannot list binary logs (${redactText((err as Error).message)}); change feeds need the REPLICATION CLIENT and REPLICATION SLAVE privileges`,
        );
      }
      if (from === undefined) {
        // Read where the end is, rather than let the reader start there unnamed: that end is stored at once.
        const end = await this.binlogEnd(conn);
        if (!end) return { startAtEnd: true };
        this.began = JSON.stringify(end);
        return { filename: end.file, position: end.pos };
      }
      const at = binlogPosition(from);
      const log = at && logs.find((l) => l.name === at.file);
      if (at && log && at.pos <= log.size) {
        this.began = from;
        return { filename: at.file, position: at.pos };
      }
      // A position the server cannot serve: reading from it would fail at every start, or skip what came
      // before it. Changes may have been missed, so it is a gap, read from the binlog's current end.
      const newest = logs.at(-1)?.name;
      this.buffer.open(
        !at
          ? `the stored position ${from} is not a binlog position`
          : log
            ? `the stored position ${at.pos} is past the end of binlog ${at.file} (${log.size} bytes): the server was replaced or restored`
            : newest !== undefined && at.file > newest
              ? `binlog ${at.file} is newer than the server's newest, ${newest}: the server was replaced or restored`
              : `binlog ${at.file} was purged by the server before it was read (binlog_expire_logs_seconds)`,
        undefined,
      );
      const end = await this.binlogEnd(conn);
      if (!end) return { startAtEnd: true };
      this.began = JSON.stringify(end);
      this.buffer.open("binlog read from its current end", this.began);
      return { filename: end.file, position: end.pos };
    } finally {
      await conn.end().catch(() => {});
    }
  }

  /** The binlog's current end (undefined when the server reports none). */
  private async binlogEnd(conn: mysql.Connection): Promise<BinlogPosition | undefined> {
    const [status] = await conn.query<mysql.RowDataPacket[]>("SHOW MASTER STATUS");
    const end = status[0];
    return end && { file: String(end.File), pos: Number(end.Position) };
  }

  private onEvent(zongji: ZongJi, event: BinlogEvent): void {
    const name = event.getEventName();
    if (name === "writerows" || name === "deleterows") {
      const binary = binaryColumns(event);
      for (const row of event.rows as Row[]) this.changed(this.keyOf(row, binary));
    } else if (name === "updaterows") {
      const binary = binaryColumns(event);
      for (const r of event.rows as { before: Row; after: Row }[]) {
        this.changed(this.keyOf(r.after, binary));
        this.changed(this.keyOf(r.before, binary));
      }
    } else if (name === "xid") {
      this.commit(zongji);
    } else if (name === "query") {
      const q = String((event as { query?: string }).query ?? "").trim();
      if (/^BEGIN\b/i.test(q)) this.inTransaction = [];
      else if (/^COMMIT\b/i.test(q)) this.commit(zongji);
      else if (statementReplacesTable(q, (event as { schema?: string }).schema, this.database, this.table))
        this.buffer.open(`table ${this.table} was changed by: ${q.slice(0, 60)}`, undefined);
    }
  }

  private changed(key: Key): void {
    if (this.inTransaction) this.inTransaction.push(key);
    // MariaDB writes a row event of a non-transactional table without BEGIN: it is its own transaction.
    else this.inTransaction = [key];
  }

  private commit(zongji: ZongJi): void {
    const keys = this.inTransaction ?? [];
    this.inTransaction = undefined;
    const { filename, position } = zongji.options;
    if (filename && position) this.buffer.push(keys, JSON.stringify({ file: filename, pos: position }));
  }

  private keyOf(row: Row, binary: ReadonlySet<string>): Key {
    return this.options.keyColumns.map((c) => {
      const part = keyPart(row[c], binary.has(c));
      if (part === undefined)
        this.buffer.fail(
          new ChangeFeedError(
            `mysql replica '${this.label}': a change to ${this.table} did not carry key column ${c}; change feeds need binlog_row_image=FULL`,
          ),
        );
      return part ?? "";
    });
  }
}

/** The parts of a zongji event this feed reads. */
interface BinlogEvent {
  getEventName(): string;
  rows?: unknown[];
  tableId?: number;
  tableMap?: Record<number, { columnSchemas?: { COLUMN_NAME: string; COLUMN_TYPE: string }[] }>;
}

/**
 * The binary-string columns (BINARY, VARBINARY, BLOB) of a row event's table: zongji hands their values as
 * Buffers (a BINARY(n) padded to n bytes), which are keys by their bytes (hex), not by a UTF-8 decoding
 * (text in a character set zongji cannot decode comes as a Buffer too).
 */
function binaryColumns(event: BinlogEvent): ReadonlySet<string> {
  const schemas = event.tableId === undefined ? undefined : event.tableMap?.[event.tableId]?.columnSchemas;
  return new Set(
    (schemas ?? [])
      .filter((c) => /^(binary|varbinary|tinyblob|blob|mediumblob|longblob)\b/i.test(c.COLUMN_TYPE))
      .map((c) => c.COLUMN_NAME),
  );
}

/** A stored binlog position read back, or undefined when it is not one (a file name and a byte offset ≥ 4). */
/** One MariaDB/MySQL name: quoted (groups 1) or bare (group 2). */
const IDENTIFIER = "(?:`((?:[^`]|``)*)`|([\\p{L}\\p{N}_$]+))";
const NAME = new RegExp(`${IDENTIFIER}(?:\\s*\\.\\s*${IDENTIFIER})?`, "gu");

/**
 * Whether a statement in the binlog may have replaced `database`.`table`'s rows without row events:
 * TRUNCATE, DROP, ALTER, RENAME or CREATE (MariaDB's CREATE OR REPLACE) naming the table, or DROP
 * DATABASE naming its database. A name is the table when its qualifier, or else the statement's
 * default database (`schema`), is `database`: a same-named table in another database is not it.
 * Where it cannot tell (no default database), it says yes: a needless whole pass, never a missed one.
 * Names compare case-insensitively for the same reason.
 */
export function statementReplacesTable(
  query: string,
  schema: string | undefined,
  database: string,
  table: string,
): boolean {
  const verb = /\b(TRUNCATE|DROP|ALTER|RENAME|CREATE)\b/i.exec(query);
  if (!verb) return false;
  const same = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();
  if (/\bDROP\s+(?:DATABASE|SCHEMA)\b/i.test(query)) {
    const dropped = new RegExp(`\\b(?:DATABASE|SCHEMA)\\s+(?:IF\\s+EXISTS\\s+)?${IDENTIFIER}`, "iu").exec(
      query,
    );
    return !dropped || same(unquote(dropped[1], dropped[2]), database);
  }
  for (const m of query.slice(verb.index).matchAll(NAME)) {
    const first = unquote(m[1], m[2]);
    const second = m[3] !== undefined || m[4] !== undefined ? unquote(m[3], m[4]) : undefined;
    const [db, name] = second === undefined ? [schema || undefined, first] : [first, second];
    if (same(name, table) && (db === undefined || same(db, database))) return true;
  }
  return false;
}

function unquote(quoted: string | undefined, bare: string | undefined): string {
  return quoted !== undefined ? quoted.replaceAll("``", "`") : (bare ?? "");
}

function binlogPosition(text: string): BinlogPosition | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const at = value as Partial<BinlogPosition> | null;
  return at && typeof at.file === "string" && at.file !== "" && Number.isSafeInteger(at.pos) && at.pos! >= 4
    ? { file: at.file, pos: at.pos! }
    : undefined;
}
