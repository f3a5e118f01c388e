/**
 * Redis change feed: keyspace notifications for the dataset's key prefix. Redis keeps no history of them, so
 * a feed started again after a stop, or after a lost connection, reports a gap (a whole pass covers it).
 */
import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { redactText, redactUrl } from "../../config/redact.js";
import { ChangeBuffer } from "../change-buffer.js";
import {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
} from "../change-feed.js";
import { notARecordKey, RedisKeyCodec } from "./redis-key-codec.js";
import { keyNameBytes, NOT_A_KEY_NAME } from "./redis-session.js";

/**
 * A feed over one key prefix. Needs `notify-keyspace-events` with K (keyspace events) and A, or at least g
 * (DEL, EXPIRE…), $ (strings), h (hashes) and x (expiry). Positions are `<session>:<n>`: only meaningful to
 * the process that produced them.
 */
export class RedisChangeFeed implements ChangeFeed {
  readonly label: string;
  private readonly buffer: ChangeBuffer;
  private readonly codec: RedisKeyCodec;
  private readonly session = randomUUID();
  private seq = 0;
  /** The position `start` began at (see ChangeFeed.startedAt). */
  private began: string | undefined;
  private client: Redis | undefined;
  private channelPrefix = "";

  constructor(
    private readonly url: string,
    prefix: string,
    options: ChangeFeedOptions,
  ) {
    this.label = options.label;
    this.buffer = new ChangeBuffer(options.bufferKeys);
    this.codec = new RedisKeyCodec(prefix, options.keyColumns.length);
  }

  async start(from: string | undefined): Promise<void> {
    const db = Number(new URL(this.url).pathname.replace(/^\//, "") || "0");
    const client = new Redis(this.url, {
      lazyConnect: true,
      connectTimeout: 10_000,
      connectionName: "concord feed",
    });
    client.on("error", () => {});
    this.client = client;
    try {
      await client.connect();
      await this.checkSettings(client);
    } catch (err) {
      await this.close();
      if (err instanceof ChangeFeedError) throw err;
      throw new ChangeFeedError(
        `redis replica '${this.label}': cannot connect to ${redactUrl(this.url)}: ${redactText((err as Error).message)}`,
        true,
      );
    }
    this.channelPrefix = `__keyspace@${db}__:`;
    // The channel as bytes: ioredis's string form decodes a key name that is not UTF-8 with U+FFFD (see onEvent).
    client.on("pmessageBuffer", (_pattern: string, channel: Buffer) => this.onEvent(channel));
    // Notifications sent while the connection was down are gone.
    client.on("reconnecting", () =>
      this.buffer.open("the connection to Redis was lost; notifications sent meanwhile are gone", undefined),
    );
    await client.psubscribe(`${this.channelPrefix}${this.codec.pattern()}`);
    this.began = `${this.session}:0`;
    if (from !== undefined)
      this.buffer.open("keyspace notifications are not kept while the feed is stopped", this.position());
  }

  /** Stored, it makes the next start report a gap: Redis keeps no notification for a feed that is stopped. */
  startedAt(): string | undefined {
    return this.began;
  }

  take(options: { maxKeys: number; waitMs: number; signal?: AbortSignal }): Promise<ChangeBatch> {
    return this.buffer.take(options);
  }

  /** Nothing to release: Redis keeps no history of notifications. */
  async acknowledge(): Promise<void> {}

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    client?.disconnect();
  }

  /** A subscription leaves nothing on the server. */
  async drop(): Promise<void> {
    await this.close();
  }

  private fail(detail: string): never {
    throw new ChangeFeedError(`redis replica '${this.label}': ${detail}`);
  }

  private async checkSettings(client: Redis): Promise<void> {
    let flags: string;
    try {
      const got = (await client.config("GET", "notify-keyspace-events")) as string[];
      flags = got[1] ?? "";
    } catch {
      // CONFIG may be renamed or refused (managed services): the setting cannot be checked, only trusted.
      return;
    }
    const all = flags.includes("A");
    const missing = ["g", "$", "h", "x"].filter((c) => !all && !flags.includes(c));
    if (!flags.includes("K") || missing.length)
      this.fail(
        `notify-keyspace-events is "${flags}"; change feeds need notify-keyspace-events=KA (at least K, g, $, h and x)`,
      );
  }

  private position(): string {
    return `${this.session}:${this.seq}`;
  }

  /**
   * A key name that is not UTF-8 fails the feed naming its bytes, as the scan does (RedisSession.checkNames):
   * decoded with U+FFFD it would name another key (`item:\xff` checked as `item:\ufffd`), or none, and the
   * change would be skipped unchecked. The failure restarts the feed, whose restart is a gap, and the whole pass
   * covering it stops at the same name, so nothing is reported equal until it is renamed or deleted.
   */
  private onEvent(channel: Buffer): void {
    const bytes = channel.subarray(Buffer.byteLength(this.channelPrefix));
    if (!isUtf8(bytes)) {
      this.buffer.fail(
        new ChangeFeedError(
          `redis replica '${this.label}': a change to ${keyNameBytes(bytes)}: the name is not UTF-8 text, ${NOT_A_KEY_NAME}`,
        ),
      );
      return;
    }
    const name = bytes.toString("utf8");
    const parts = this.codec.decode(name);
    // A name under the prefix that is not a record's (wrong number of parts, a dangling escape) fails the feed
    // as it stops the scan (docs/redis.md: every key under the prefix is a record of the dataset): skipped
    // here, it would be reported nowhere while every pass stops at it.
    if (typeof parts === "string") {
      this.buffer.fail(new ChangeFeedError(`redis replica '${this.label}': ${notARecordKey(name, parts)}`));
      return;
    }
    this.seq++;
    this.buffer.push([parts], this.position());
  }
}
