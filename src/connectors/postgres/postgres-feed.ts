/**
 * PostgreSQL change feed: logical replication (a publication on the table and a pgoutput slot, both named
 * per dataset and replica). Acknowledges an LSN only when told to, never on its own.
 */
import type { Client } from "pg";
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication";
import { redactText, redactUrl } from "../../config/redact.js";
import { type Key, keyId } from "../../core/model.js";
import { ChangeBuffer } from "../change-buffer.js";
import {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
  feedObjectName,
  keyPart,
  type RowImage,
} from "../change-feed.js";
import { pg } from "./node-postgres.js";
import { describePgError } from "./postgres-errors.js";
import { ensureFeedPublication } from "./postgres-feed-publication.js";
import { stillRunning } from "./postgres-feed-snapshot.js";

/** How often the slot's retained WAL is measured while streaming, and the server told where we stand. */
const STATUS_EVERY_MS = 10_000;

/**
 * The server is told where we stand at most this often (the latest position, within this much after it was
 * acknowledged): a busy feed's checks, several a second, do not each cost a status message.
 */
const ACK_EVERY_MS = 1000;

/**
 * Between transactions, the server's WAL end (from its keepalives) is handed to the watcher at most this often:
 * the walsender pings whenever it waits for WAL while our reported positions are behind what it read, which is
 * after every flush of any session's WAL, every database's (hundreds a second on a busy server, with nothing of
 * ours in them); each handed over woke the watcher for a turn of its loop, where it stores such a position at
 * most once a second anyway.
 */
const IDLE_POSITION_EVERY_MS = 1000;

/** How long a batch waits at most for its transactions to become visible to other sessions. */
const VISIBLE_WAIT_MS = 1000;

/** The subset of the table's catalogue entry the feed needs. */
interface PgTableInfo {
  /** The table as a regclass text (quoted where needed), for CREATE PUBLICATION. */
  readonly regclass: string;
  readonly schema: string;
  readonly name: string;
}

/**
 * A feed over one PostgreSQL table. Needs `wal_level=logical`, a role with the REPLICATION attribute (or a
 * superuser) that owns the table (to create the publication), free `max_replication_slots`, and a replica
 * identity that includes the key columns (the primary key when the key is the primary key; otherwise
 * `REPLICA IDENTITY FULL`), so a delete still names its key.
 */
export class PostgresChangeFeed implements ChangeFeed {
  readonly label: string;
  /** The slot and the publication share this name. */
  readonly objectName: string;
  private readonly buffer: ChangeBuffer;
  private service: LogicalReplicationService | undefined;
  private admin: Client | undefined;
  private table: PgTableInfo | undefined;
  private acked: string | undefined;
  /** The LSN `start` streamed from (see ChangeFeed.startedAt). */
  private began: string | undefined;
  private inTransaction: Key[] | undefined;
  /** The rows the transaction being decoded left, by `keyId` (undefined: not whole; see ChangeBatch.images). */
  private readonly images = new Map<string, RowImage | null | undefined>();
  /** The type parsers the library chose for the table's columns, applied to key columns' texts. */
  private readonly keyParsers = new Map<string, (text: string) => unknown>();
  private statusTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private ackSentAt = 0;
  /** The transaction being decoded, and those delivered whose end other sessions may not see yet. */
  private xid: number | undefined;
  private readonly unseen = new Set<number>();
  private ackTimer: NodeJS.Timeout | undefined;
  /** The newest keepalive position not yet handed over, when it was last done, and the timer that will. */
  private idleLsn: string | undefined;
  private idleHandedAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly tableName: string,
    private readonly options: ChangeFeedOptions,
    /** How often the slot is measured and the server told where we stand (tests shorten it). */
    private readonly statusEveryMs = STATUS_EVERY_MS,
  ) {
    this.label = options.label;
    this.objectName = feedObjectName(options.dataset, options.replica);
    this.buffer = new ChangeBuffer(options.bufferKeys);
  }

  async start(from: string | undefined): Promise<void> {
    const admin = await this.connectAdmin();
    await this.checkSettings(admin);
    this.table = await this.readTable(admin);
    await this.ensurePublication(admin, this.table);
    const slot = await this.ensureSlot(admin, from);
    this.acked = slot.startAt;
    await this.stream(slot.startAt);
    this.began = slot.startAt;
    this.statusTimer = setInterval(() => void this.status(), this.statusEveryMs);
    this.statusTimer.unref();
  }

  /** The slot keeps every change after it until it is acknowledged, so a restart there loses none. */
  startedAt(): string | undefined {
    return this.began;
  }

  /**
   * A batch whose every key comes with its row leaves the visibility wait to `beforeRead`: a check that finds
   * the rows equal everywhere reads nothing of this store, so it waits for nothing.
   */
  async take(options: { maxKeys: number; waitMs: number; signal?: AbortSignal }): Promise<ChangeBatch> {
    const batch = await this.buffer.take(options);
    if (!batch.keys.length || !this.unseen.size) return batch;
    if (batch.images?.size !== batch.keys.length) {
      await this.visible([...this.unseen]);
      this.unseen.clear();
      return batch;
    }
    const xids = [...this.unseen];
    this.unseen.clear();
    let waited: Promise<void> | undefined;
    return { ...batch, beforeRead: () => (waited ??= this.visible(xids)) };
  }

  /**
   * Waits until the transactions delivered so far are visible to other sessions. The server streams a commit
   * once its record is flushed, a moment before the transaction leaves the running set; a check reading the
   * key in that moment would find the old record (a new row absent, and delete it elsewhere). A snapshot
   * taken now says which transactions a check's own would still count as running: one call of the cheapest
   * kind (`pg_current_snapshot()`: about the cost of `SELECT 1`, where reading `pg_locks` walked the lock
   * table, about 10× that, in the same backend on the writer's server).
   */
  private async visible(delivered: readonly number[]): Promise<void> {
    let xids = delivered;
    const until = Date.now() + VISIBLE_WAIT_MS;
    for (;;) {
      const { rows } = await this.admin!.query<{ s: string }>("SELECT pg_current_snapshot()::text AS s");
      xids = xids.filter((xid) => stillRunning(xid, rows[0]!.s));
      if (!xids.length || Date.now() > until) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async acknowledge(position: string): Promise<void> {
    this.acked = position;
    const wait = this.ackSentAt + ACK_EVERY_MS - Date.now();
    if (wait <= 0) return this.sendAck();
    // Sent with the next status, at most ACK_EVERY_MS from now; a failure there shows in the stream.
    this.ackTimer ??= setTimeout(() => void this.sendAck().catch(() => {}), wait);
    this.ackTimer.unref();
  }

  /** Tells the server the latest acknowledged position. */
  private async sendAck(): Promise<void> {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackSentAt = Date.now();
    if (this.acked) await this.service?.acknowledge(this.acked);
  }

  async close(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    // A position acknowledged but not yet sent is sent before the stream ends.
    if (this.ackTimer) await this.sendAck().catch(() => {});
    const service = this.service;
    this.service = undefined;
    await service?.destroy().catch(() => {});
    const admin = this.admin;
    this.admin = undefined;
    await admin?.end().catch(() => {});
  }

  /** Drops the slot (ending a stream still holding it) and the publication. */
  async drop(): Promise<void> {
    await this.close();
    const admin = await this.connectAdmin();
    try {
      await this.dropSlot(admin);
      await admin.query(`DROP PUBLICATION IF EXISTS ${quote(this.objectName)}`);
    } finally {
      this.admin = undefined;
      await admin.end().catch(() => {});
    }
  }

  private fail(detail: string): never {
    throw new ChangeFeedError(`postgres replica '${this.label}': ${detail}`);
  }

  private async connectAdmin(): Promise<Client> {
    const client = new pg.Client({ connectionString: this.url, application_name: "concord feed" });
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw new ChangeFeedError(
        `postgres replica '${this.label}': ${redactText(describePgError(err, { table: this.tableName, server: redactUrl(this.url) }))}`,
        true,
      );
    }
    this.admin = client;
    return client;
  }

  private async checkSettings(admin: Client): Promise<void> {
    const { rows } = await admin.query<{ wal_level: string; replication: boolean; role: string }>(
      `SELECT current_setting('wal_level') AS wal_level, (rolreplication OR rolsuper) AS replication,
              rolname AS role FROM pg_roles WHERE rolname = current_user`,
    );
    const s = rows[0]!;
    if (s.wal_level !== "logical")
      this.fail(`wal_level is ${s.wal_level}; change feeds need wal_level=logical`);
    if (!s.replication)
      this.fail(
        `role ${s.role} has no REPLICATION attribute; change feeds need ALTER ROLE ${s.role} REPLICATION`,
      );
  }

  private async readTable(admin: Client): Promise<PgTableInfo> {
    const { rows } = await admin.query<{
      regclass: string | null;
      schema: string;
      name: string;
      ident: string;
      identity: string[] | null;
    }>(
      `SELECT c.oid::regclass::text AS regclass, n.nspname AS schema, c.relname AS name,
              c.relreplident AS ident,
              (SELECT array_agg(a.attname::text) FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                WHERE i.indrelid = c.oid AND (CASE c.relreplident WHEN 'd' THEN i.indisprimary
                                                                  ELSE i.indisreplident END)) AS identity
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1)`,
      [this.tableName],
    );
    const t = rows[0];
    if (!t?.regclass) this.fail(`table ${this.tableName} does not exist`);
    if (t.ident !== "f") {
      const missing = this.options.keyColumns.filter((k) => !(t.identity ?? []).includes(k));
      if (missing.length)
        this.fail(
          `table ${t.regclass}'s replica identity does not include ${missing.join(", ")}, so a delete would not name its key; change feeds need ALTER TABLE ${t.regclass} REPLICA IDENTITY FULL (or the key as primary key)`,
        );
    }
    return { regclass: t.regclass, schema: t.schema, name: t.name };
  }

  private async ensurePublication(admin: Client, table: PgTableInfo): Promise<void> {
    try {
      await ensureFeedPublication(admin, this.objectName, table.regclass);
    } catch (err) {
      this.fail(`cannot create publication ${this.objectName}: ${(err as Error).message}`);
    }
  }

  /**
   * The slot to stream from, created when missing; where to start (the stored position, else where the slot
   * stands). A slot that retains more WAL than `maxLagBytes`, or that the server invalidated, is dropped and
   * created again, and a missing slot with a stored position means changes were lost: both open a gap.
   */
  private async ensureSlot(admin: Client, from: string | undefined): Promise<{ startAt: string }> {
    const slot = await this.readSlot(admin);
    // A stored position that is no LSN, or one past the server's WAL end (the server was replaced or restored
    // from a backup, or the position edited), cannot be resumed from: streaming would fail at every start, or
    // skip every change until the WAL reached it. The slot's own position is taken instead, with a gap.
    const unusable = from === undefined ? undefined : await this.unusablePosition(admin, from);
    if (unusable && slot && !slot.lost && slot.retained <= this.options.maxLagBytes) {
      this.buffer.open(unusable, slot.confirmed);
      return { startAt: slot.confirmed };
    }
    let gap: string | undefined = unusable;
    if (slot && (slot.lost || slot.retained > this.options.maxLagBytes)) {
      gap = `${gap ? `${gap}; ` : ""}${
        slot.lost
          ? `slot ${this.objectName} was invalidated by the server (max_slot_wal_keep_size); created it again`
          : `slot ${this.objectName} retained ${slot.retained} bytes of WAL (more than maxLagBytes ${this.options.maxLagBytes}); released it and created it again`
      }`;
      await this.dropSlot(admin);
    } else if (!slot && from !== undefined) {
      gap = `${gap ? `${gap}; ` : ""}slot ${this.objectName} was missing (dropped?); created it again`;
    }
    if (!slot || gap) {
      try {
        const { rows } = await admin.query<{ lsn: string }>(
          "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
          [this.objectName],
        );
        const startAt = rows[0]!.lsn;
        if (gap) this.buffer.open(gap, startAt, slot !== undefined);
        return { startAt };
      } catch (err) {
        this.fail(`cannot create replication slot ${this.objectName}: ${(err as Error).message}`);
      }
    }
    return { startAt: from ?? slot.confirmed };
  }

  /** Why `from` cannot be streamed from (not an LSN, or past the server's WAL end), or undefined. */
  private async unusablePosition(admin: Client, from: string): Promise<string | undefined> {
    if (!/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(from)) return `the stored position ${from} is not an LSN`;
    const { rows } = await admin.query<{ end: string; past: boolean }>(
      `SELECT w.lsn::text AS end, $1::pg_lsn > w.lsn AS past FROM (SELECT CASE WHEN pg_is_in_recovery()
         THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) AS w`,
      [from],
    );
    const r = rows[0]!;
    return r.past
      ? `the stored position ${from} is past the server's WAL end ${r.end} (the server was replaced or restored)`
      : undefined;
  }

  private async readSlot(
    admin: Client,
  ): Promise<{ confirmed: string; retained: number; lost: boolean } | undefined> {
    const { rows } = await admin.query<{ confirmed: string | null; retained: string | null; lost: boolean }>(
      `SELECT confirmed_flush_lsn::text AS confirmed,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained,
              (wal_status = 'lost' OR restart_lsn IS NULL) AS lost
         FROM pg_replication_slots WHERE slot_name = $1`,
      [this.objectName],
    );
    const s = rows[0];
    return s && { confirmed: s.confirmed ?? "0/0", retained: Number(s.retained ?? 0), lost: s.lost };
  }

  private async dropSlot(admin: Client): Promise<void> {
    // A slot still held by a stream (ours, gone, or a crashed process's) is freed first.
    await admin.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
        WHERE slot_name = $1 AND active_pid IS NOT NULL AND active_pid <> pg_backend_pid()`,
      [this.objectName],
    );
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
          [this.objectName],
        );
        return;
      } catch (err) {
        // The terminated walsender may hold the slot for a moment longer ("is active for PID").
        if ((err as { code?: string }).code !== "55006" || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Starts streaming at `startAt`; resolves once the server has started, rejects if it refuses. */
  private async stream(startAt: string): Promise<void> {
    // Acknowledgements are ours alone: the library's timer would confirm what was received, not checked.
    const service = new LogicalReplicationService(
      { connectionString: this.url, application_name: "concord feed" },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    this.service = service;
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.objectName] });
    service.on("data", (_lsn: string, message: Pgoutput.Message) => this.onMessage(message));
    service.on("heartbeat", (lsn: string, _at: number, shouldRespond: boolean) => {
      // Between transactions the server's WAL end is a position with nothing of ours before it unseen.
      if (!this.inTransaction) this.idlePosition(lsn);
      if (shouldRespond && this.acked) void service.acknowledge(this.acked).catch(() => {});
    });
    service.on("error", (err: Error) => this.buffer.fail(this.streamError(err)));
    await new Promise<void>((resolve, reject) => {
      service.once("start", () => resolve());
      service.subscribe(plugin, this.objectName, startAt).then(
        () => {
          if (this.service === service) this.buffer.fail(this.streamError(new Error("the stream ended")));
        },
        (err: Error) => {
          const e = this.streamError(err);
          this.buffer.fail(e);
          reject(e);
        },
      );
    });
  }

  /**
   * A keepalive's position between transactions: handed to the buffer (when nothing waits there) at most once
   * per IDLE_POSITION_EVERY_MS, the newest one at the end of that time.
   */
  private idlePosition(lsn: string): void {
    this.idleLsn = lsn;
    if (this.idleTimer) return;
    const wait = this.idleHandedAt + IDLE_POSITION_EVERY_MS - Date.now();
    if (wait <= 0) {
      this.handIdlePosition();
      return;
    }
    this.idleTimer = setTimeout(() => this.handIdlePosition(), wait);
    this.idleTimer.unref();
  }

  private handIdlePosition(): void {
    this.idleTimer = undefined;
    const lsn = this.idleLsn;
    this.idleLsn = undefined;
    this.idleHandedAt = Date.now();
    if (lsn !== undefined && !this.inTransaction && this.buffer.empty) this.buffer.push([], lsn);
  }

  private streamError(err: Error): ChangeFeedError {
    // A slot streams to one consumer at a time: say who that is likely to be, not only the server's words.
    const held =
      (err as { code?: string }).code === "55006"
        ? "; another consumer is streaming this feed's slot (a second `concord watch` or `serve` watching this dataset, or one still stopping)"
        : "";
    return new ChangeFeedError(
      `postgres replica '${this.label}': replication stream: ${redactText(describePgError(err, { table: this.tableName, server: redactUrl(this.url) }))}${held}`,
      true,
    );
  }

  private onMessage(m: Pgoutput.Message): void {
    switch (m.tag) {
      case "relation":
        // Values come as the server's text output, unparsed: row images are the texts a read by `::text`
        // gives (pg-types would make numbers, Dates and objects of them). Keys are parsed as before.
        for (const c of m.columns) {
          if (c.parser !== rawText) this.keyParsers.set(c.name, c.parser);
          c.parser = rawText;
        }
        return;
      case "begin":
        // A keepalive position not yet handed over precedes this transaction: its commit's position supersedes it.
        this.idleLsn = undefined;
        this.inTransaction = [];
        this.images.clear();
        this.xid = m.xid;
        return;
      case "insert":
      case "update": {
        const key = this.keyOf(m.new);
        this.inTransaction?.push(key);
        this.images.set(keyId(key), wholeRow(m.new));
        // An update that changed the key also changed the old key's record: gone at this commit.
        if (m.tag === "update" && (m.key || m.old)) {
          const old = this.keyOf({ ...m.key, ...m.old });
          this.inTransaction?.push(old);
          if (keyId(old) !== keyId(key)) this.images.set(keyId(old), null);
        }
        return;
      }
      case "delete": {
        const key = this.keyOf({ ...m.key, ...m.old });
        this.inTransaction?.push(key);
        this.images.set(keyId(key), null);
        return;
      }
      case "truncate":
        this.buffer.open(`table ${this.table?.regclass ?? this.tableName} was truncated`, undefined);
        return;
      case "commit": {
        const keys = this.inTransaction ?? [];
        this.inTransaction = undefined;
        if (keys.length && this.xid !== undefined) this.unseen.add(this.xid);
        const images = new Map<string, RowImage | null>();
        for (const [id, image] of this.images) if (image !== undefined) images.set(id, image);
        this.images.clear();
        this.buffer.push(keys, m.commitEndLsn ?? "0/0", images);
        return;
      }
      default:
        return;
    }
  }

  private keyOf(row: Record<string, unknown>): Key {
    return this.options.keyColumns.map((c) => {
      const text = row[c];
      const parse = this.keyParsers.get(c);
      const value = typeof text === "string" && parse ? parse(text) : text;
      // Only bytea's parser makes a Buffer: its part is the bytes' hex, never their UTF-8 decoding.
      const part = keyPart(value, Buffer.isBuffer(value));
      if (part === undefined)
        this.buffer.fail(
          new ChangeFeedError(
            `postgres replica '${this.label}': a change to ${this.tableName} did not carry key column ${c}; change feeds need REPLICA IDENTITY FULL or the key as primary key`,
          ),
        );
      return part ?? "";
    });
  }

  /** Keeps the server told where we stand, and releases a slot that holds more WAL than allowed. */
  private async status(): Promise<void> {
    if (this.checking || !this.admin) return;
    this.checking = true;
    try {
      if (this.acked) await this.service?.acknowledge(this.acked);
      const slot = await this.readSlot(this.admin);
      if (slot && (slot.lost || slot.retained > this.options.maxLagBytes)) {
        await this.service?.destroy().catch(() => {});
        this.service = undefined;
        const { startAt } = await this.ensureSlot(this.admin, this.acked);
        this.acked = startAt;
        await this.stream(startAt);
      }
    } catch (err) {
      this.buffer.fail(err instanceof ChangeFeedError ? err : this.streamError(err as Error));
    } finally {
      this.checking = false;
    }
  }
}

/** A column's value as the server sent it: its text output. */
const rawText = (text: string): string => text;

/**
 * The row of an insert or update as text, or undefined when it is not whole: PostgreSQL sends an unchanged
 * TOASTed value as "unchanged" (no value) unless the old row came too, and the library leaves it undefined.
 */
function wholeRow(row: Record<string, unknown>): RowImage | undefined {
  const out: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(row)) {
    if (value === null) out[name] = null;
    else if (typeof value === "string") out[name] = value;
    else return undefined;
  }
  return out;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
