/** The ioredis calls the Redis connector makes (pipelines, SCAN pages, Lua scripts); failures become one-line ConnectorErrors. Only this folder imports the driver. */
import { isUtf8 } from "node:buffer";
import type { Socket } from "node:net";
import type { ChainableCommander, Redis, RedisOptions } from "ioredis";
import { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "../../config/timeouts.js";
import {
  boundSilence,
  boundTime,
  isStoreTimeout,
  type StoreTimeoutError,
} from "../../deadlines/bound-silence.js";
import type { ConnectorStats } from "../connector.js";
import { redisError } from "./redis-errors.js";

/** One SCAN page: the names it found (those selected) and, when values were asked for, each one's reply. */
export interface ScanPage {
  readonly names: readonly string[];
  readonly replies: readonly unknown[];
}

/** How a scan reads the values of the names it finds. */
export interface PageReader {
  /**
   * Queues the commands that read a page's names (one pipeline); with `source`, a script is sent by its
   * source (EVAL) instead of its SHA1, so a SCRIPT FLUSH cannot make the read fail again.
   */
  read(p: ChainableCommander, names: readonly string[], source?: boolean): void;
  /** One reply per name, from the replies of the commands `read` queued (in order). */
  split(results: readonly unknown[], names: readonly string[]): unknown[];
  /**
   * Loads the scripts `read` uses again after the server lost them (NOSCRIPT), for the pages to come; the
   * page that met NOSCRIPT is read again with the scripts' source.
   */
  reload?(): Promise<void>;
  /** Checks or completes a page's replies before it is handed out (may take another round trip). */
  settle?(names: readonly string[], replies: unknown[]): Promise<void>;
}

type PipelineResult = [error: Error | null, result: unknown][] | null;

/** Random keys sampled to estimate the share of the database under a prefix. */
const SAMPLE_KEYS = 512;

/** Attempts of a read whose connection was lost under it, the first included. */
const READ_ATTEMPTS = 3;

/** ioredis's ways of saying the connection went away under a command (it was not refused by the server). */
function isConnectionLoss(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  if (e?.name === "AbortError" || e?.name === "MaxRetriesPerRequestError") return true;
  if (e?.code === "ECONNRESET" || e?.code === "EPIPE") return true;
  return /Connection is closed|Stream isn't writeable|max retries per request|ECONNRESET|EPIPE/.test(
    String(e?.message),
  );
}

/**
 * The client settings of a connection Concord opens itself, from a replica's timeouts: the connect timeout
 * (TCP; the handshake is bounded by `connectRedis`) and TCP keepalive. Silence is bounded per call by the
 * session, not by ioredis's socketTimeout, whose reconnect can leave a command waiting forever.
 */
export function redisClientTimeouts(t: TimeoutsConfig): RedisOptions {
  return { connectTimeout: t.connectMs, ...(t.keepaliveMs > 0 ? { keepAlive: t.keepaliveMs } : {}) };
}

/**
 * Connects `client` (created with lazyConnect) and selects database `db`, within `connectMs` in all: a
 * server that accepts the connection and never answers the handshake is a StoreTimeoutError, not a hang.
 */
export async function connectRedis(client: Redis, db: number | undefined, connectMs: number): Promise<void> {
  await boundTime(
    (async () => {
      await client.connect();
      // ioredis reports a failed SELECT (an index past `databases`) as an event and stays in database 0.
      if (db !== undefined) await client.select(db);
    })(),
    connectMs,
    "connect",
    () => client.disconnect(),
  );
}

/**
 * A Redis client as the connector uses it. Every method counts its round trips in `stats.queries` and
 * throws ConnectorError with the replica's label and credentials redacted.
 *
 * Every call may wait at most `timeouts.queryMs` without a byte from the server (Redis runs one command at a
 * time, so a server silent that long is stalled, not busy with our call): then the client is disconnected
 * for good and the call, and every later one, fails naming the timeout.
 */
export class RedisSession {
  private readonly timeouts: TimeoutsConfig;
  /** Set once a call timed out: the client is gone, and later failures say why. */
  private timedOut: StoreTimeoutError | undefined;

  constructor(
    readonly client: Redis,
    private readonly label: string,
    private readonly stats: ConnectorStats,
    /** Added to WRONGTYPE errors: which Redis type the replica's format expects. */
    private readonly wrongTypeHint: string,
    timeouts: TimeoutsConfig = DEFAULT_TIMEOUTS,
  ) {
    this.timeouts = timeouts;
    client.on("close", () => {
      this.closes++;
    });
  }

  /**
   * Connections lost so far. ioredis sends a command cut off by a lost connection again on the next one, so a
   * write sent while this changed may have run twice: once unheard, once to find its own change.
   */
  closes = 0;

  /** Throws `what` failing with `err` as a one-line ConnectorError (see `redisError`). */
  fail(what: string, err?: unknown): never {
    throw redisError(this.label, what, this.timedOut ?? err, this.timedOut ? "ready" : this.client.status);
  }

  /**
   * Runs one round trip within the silence deadline. A read (`read`, the default) whose connection was lost
   * under it is sent again once ioredis has reconnected, up to READ_ATTEMPTS in all: reads change nothing,
   * and ioredis aborts a pipeline that was partly answered instead of resending it.
   */
  async call<T>(what: string, run: () => Promise<T>, read = true): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await boundSilence(run(), {
          ms: this.timeouts.queryMs,
          socket: () => (this.client as unknown as { stream?: Socket }).stream,
          onTimeout: () => this.client.disconnect(),
        });
        this.stats.queries++;
        return out;
      } catch (err) {
        if (isStoreTimeout(err)) this.timedOut ??= err;
        if (!read || this.timedOut || attempt >= READ_ATTEMPTS || !isConnectionLoss(err))
          this.fail(what, err);
        await this.reconnected(what, err);
      }
    }
  }

  /** Waits (within the connect deadline) for ioredis to have reconnected; fails `what` with `err` if it gives up. */
  private async reconnected(what: string, err: unknown): Promise<void> {
    const client = this.client;
    if (client.status === "ready") return;
    if (client.status === "end") this.fail(what, err);
    const ready = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        client.off("end", onEnd);
        resolve();
      };
      const onEnd = () => {
        client.off("ready", onReady);
        reject(err);
      };
      client.once("ready", onReady);
      client.once("end", onEnd);
    });
    try {
      await boundTime(ready, this.timeouts.connectMs, "connect", () => client.disconnect());
    } catch (e) {
      // Gone for good: later calls say why.
      if (isStoreTimeout(e)) this.timedOut ??= e;
      this.fail(what, e);
    }
  }

  /** Sends one pipeline (a read unless `read` is false); one [error, reply] per command. */
  async execRaw(
    what: string,
    build: (p: ChainableCommander) => void,
    read = true,
  ): Promise<[Error | null, unknown][]> {
    const results = (await this.call(
      what,
      async () => {
        const p = this.client.pipeline();
        build(p);
        const replies = await p.exec();
        // A pipeline cut by a lost connection answers each command it lost with an error, not a rejection.
        const lost = replies?.find(([err]) => err && isConnectionLoss(err));
        if (read && lost) throw lost[0];
        return replies;
      },
      read,
    )) as PipelineResult;
    if (!results) this.fail(what, new Error("the pipeline was discarded"));
    return results;
  }

  /** Sends one pipeline and checks every reply; a failed reply is named by `names[i]` (its key). */
  async exec(
    what: string,
    build: (p: ChainableCommander) => void,
    names: readonly string[] = [],
  ): Promise<unknown[]> {
    const results = await this.execRaw(what, build);
    const out = new Array<unknown>(results.length);
    for (let i = 0; i < results.length; i++) {
      const [err, value] = results[i]!;
      if (err) this.replyFailed(what, names[i], err);
      out[i] = value;
    }
    return out;
  }

  private replyFailed(what: string, name: string | undefined, err: Error): never {
    const hint = /WRONGTYPE/.test(err.message) ? ` (${this.wrongTypeHint})` : "";
    this.fail(`${what}${name !== undefined ? ` at ${name}` : ""}`, new Error(err.message + hint));
  }

  /**
   * Every key matching `pattern`, page by page (SCAN … COUNT `count`), with each one's reply when a reader
   * is given. The SCAN chain runs ahead of the caller: each SCAN reply sends the next SCAN at once and the
   * page's reads as one pipeline, with up to `readAhead` pages read or being read, so the server keeps
   * working while the caller (and whatever else shares the event loop) is busy. Where the pattern matches
   * few keys (a prefix among many others), COUNT grows up to 16-fold so the walk takes fewer round trips.
   * Only names passing `select` are returned. SCAN names every key present throughout at least once, and
   * may name one twice.
   */
  async *scanPages(
    pattern: string,
    count: number,
    readAhead: number,
    reader?: PageReader,
    select?: (name: string) => boolean,
  ): AsyncGenerator<ScanPage> {
    const pages: Promise<ScanPage>[] = [];
    let cursor = "0";
    let finished = false;
    let scanning: Promise<void> | null = null;
    let failure: { error: unknown } | null = null;
    let step = count;
    const guard = <T>(p: Promise<T>): Promise<T> => {
      // Failures surface where the caller awaits; one the caller never reaches must not go unhandled.
      p.catch(() => undefined);
      return p;
    };
    const advance = (): void => {
      if (scanning !== null || finished || failure || pages.length >= readAhead) return;
      const at = cursor;
      scanning = this.call("scan failed", () => this.client.scan(at, "MATCH", pattern, "COUNT", step))
        .then(async (reply) => {
          // A name holding U+FFFD may be a lossy decode (see `checkNames`): rare, so only then is the page
          // asked for again as bytes.
          if (reply[1].some((name) => name.includes("\ufffd"))) await this.checkNames(at, pattern, step);
          return reply;
        })
        .then(
          ([next, found]) => {
            scanning = null;
            cursor = next;
            finished = next === "0";
            step = found.length < step / 8 ? Math.min(step * 2, count * 16) : count;
            const names = select ? found.filter(select) : found;
            if (names.length) pages.push(guard(this.readPage(names, reader)));
            advance();
          },
          (error: unknown) => {
            scanning = null;
            failure = { error };
          },
        );
    };
    advance();
    for (;;) {
      const page = pages.shift();
      if (page !== undefined) {
        const got = await page;
        advance();
        yield got;
      } else if (scanning !== null) {
        await scanning;
      } else if (failure) {
        throw (failure as { error: unknown }).error;
      } else if (finished) {
        return;
      } else {
        advance();
      }
    }
  }

  /**
   * Refuses a SCAN page (the one `cursor` gives) holding a key name that is not UTF-8. ioredis decodes such
   * a name with U+FFFD, and that name names no key (`item:\xff` read back as `item:\ufffd`), so its record
   * was skipped as if it had vanished: a record only Redis held went unreported. It is no record's key.
   */
  private async checkNames(cursor: string, pattern: string, count: number): Promise<void> {
    const [, names] = await this.call("scan failed", () =>
      this.client.scanBuffer(cursor, "MATCH", pattern, "COUNT", count),
    );
    const bad = names.find((name) => !isUtf8(name));
    if (bad) this.fail("scan failed", new Error(`${keyNameBytes(bad)} is not UTF-8 text, ${NOT_A_KEY_NAME}`));
  }

  /** One page's reads as one pipeline (none without a reader). */
  private async readPage(names: readonly string[], reader: PageReader | undefined): Promise<ScanPage> {
    if (!reader) return { names, replies: [] };
    const what = "scan failed";
    for (let attempt = 0; ; attempt++) {
      // Read again after NOSCRIPT, a page sends its script's source: another SCRIPT FLUSH between the reload
      // and that read (a server whose script cache keeps being flushed) cannot fail the scan.
      const results = await this.execRaw(what, (p) => reader.read(p, names, attempt > 0));
      if (attempt === 0 && reader.reload && results.some(([err]) => err && /^NOSCRIPT/.test(err.message))) {
        await reader.reload();
        continue;
      }
      const values = results.map(([err, value]) => {
        if (err) this.replyFailed(what, undefined, err);
        return value;
      });
      const replies = reader.split(values, names);
      await reader.settle?.(names, replies);
      return { names, replies };
    }
  }

  /** EXISTS of each name, in one round trip. */
  async exists(names: readonly string[], what: string): Promise<boolean[]> {
    const replies = await this.exec(
      what,
      (p) => {
        for (const name of names) p.exists(name);
      },
      names,
    );
    return replies.map((n) => n === 1);
  }

  /** The replies of reading `names`, `size` per pipelined round trip. */
  async readMany(
    names: readonly string[],
    read: (p: ChainableCommander, name: string) => void,
    size: number,
    what: string,
  ): Promise<unknown[]> {
    const out: unknown[] = [];
    for (let i = 0; i < names.length; i += size) {
      const part = names.slice(i, i + size);
      const replies = await this.exec(
        what,
        (p) => {
          for (const name of part) read(p, name);
        },
        part,
      );
      for (const r of replies) out.push(r);
    }
    return out;
  }

  private readonly scripts = new Map<string, string>();

  /** Loads a script (SCRIPT LOAD) unless loaded before or `again`; its SHA1 for EVALSHA. */
  async loadScript(what: string, script: string, again = false): Promise<string> {
    let sha = again ? undefined : this.scripts.get(script);
    if (!sha) {
      sha = String(await this.call(what, () => this.client.script("LOAD", script)));
      this.scripts.set(script, sha);
    }
    return sha;
  }

  /**
   * Runs a Lua script once per call (one key each), pipelined by EVALSHA; the replies in call order.
   * After a SCRIPT FLUSH (NOSCRIPT: that call did not run) the script is loaded again (for later calls) and
   * those calls rerun by EVAL with its source, which cannot meet NOSCRIPT however often the cache is flushed.
   */
  async runScript(
    what: string,
    script: string,
    calls: readonly { name: string; args: readonly (string | Buffer)[] }[],
  ): Promise<unknown[]> {
    const out = new Array<unknown>(calls.length);
    let todo = calls.map((_, i) => i);
    for (let attempt = 0; todo.length > 0; attempt++) {
      const sha = await this.loadScript(what, script, attempt > 0);
      const results = await this.execRaw(
        what,
        (p) => {
          for (const i of todo) {
            if (attempt === 0) p.evalsha(sha, 1, calls[i]!.name, ...calls[i]!.args);
            else p.eval(script, 1, calls[i]!.name, ...calls[i]!.args);
          }
        },
        false,
      );
      const missing: number[] = [];
      results.forEach(([err, value], j) => {
        const i = todo[j]!;
        if (err && attempt === 0 && /^NOSCRIPT/.test(err.message)) missing.push(i);
        else if (err) this.replyFailed(what, calls[i]!.name, err);
        else out[i] = value;
      });
      todo = missing;
    }
    return out;
  }

  /**
   * About how many keys start with `prefix`, erring high: DBSIZE scaled by the share of SAMPLE_KEYS random
   * keys under the prefix, raised by three standard deviations of that count (a binomial's, about its square
   * root) and 3 keys (the 95% bound when none match); never above DBSIZE. The margin is what keeps a scan's
   * dedup set near `dedupRows`: the share alone fell under the true count about one time in four when the
   * prefix held 6% of the database (300 keys among 5,000 read 273).
   */
  async estimateKeys(prefix: string): Promise<number> {
    const what = "cannot size the database";
    const size = Number(await this.call(what, () => this.client.dbsize()));
    if (prefix === "" || size <= SAMPLE_KEYS) return size;
    const sample = await this.exec(what, (p) => {
      for (let i = 0; i < SAMPLE_KEYS; i++) p.randomkey();
    });
    let under = 0;
    for (const name of sample) if (typeof name === "string" && name.startsWith(prefix)) under++;
    return Math.min(size, Math.ceil((size * (under + 3 * Math.sqrt(under) + 3)) / SAMPLE_KEYS));
  }

  /** Closes the client: QUIT, or a hard disconnect when the server does not answer within the connect deadline. */
  async close(): Promise<void> {
    if (this.client.status === "end") return;
    if (this.client.status !== "ready") {
      this.client.disconnect();
      return;
    }
    try {
      await boundTime(this.client.quit(), this.timeouts.connectMs, "connect", () => this.client.disconnect());
    } catch {
      this.client.disconnect();
    }
  }
}

/** A key name read as bytes, as a refusal names it: `key "<lossy text>" (bytes <hex>)`. */
export function keyNameBytes(name: Buffer): string {
  return `key ${JSON.stringify(name.toString("utf8"))} (bytes ${name.toString("hex")})`;
}

/** Why a key name that is not UTF-8 is refused, and what to do (the scan's and the feed's words). */
export const NOT_A_KEY_NAME =
  "so it is no record's key name: rename or delete it, or give the dataset another prefix";
