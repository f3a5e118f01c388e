/**
 * Consistency hints for applications (`GET /api/hints/…`): per dataset fresh, lagging or diverged, per key
 * divergent or not and when last verified, and a stream of changes. Reads the state store; keeps in memory
 * only bounded recent figures (change-feed check latencies, keys recently verified) and, per dataset, when
 * its last whole pass found it in agreement (read again when a pass ends, never on a key's request).
 */
import type { ConcordConfig } from "../config/load-config.js";
import { datasetHint } from "../core/consistency-hint.js";
import { type ColumnSpec, type Key, keyId } from "../core/model.js";
import { foldKeyRunRecords } from "../engine/fold-key-run.js";
import type { StateStore } from "../state/state-store.js";
import { type DatasetHintView, type KeyHintView, TriggerError } from "./service-api.js";

/** Lag samples kept from change-feed checks, per dataset. */
const WATCH_SAMPLES = 500;
/** Keys remembered as verified by change-feed checks, per dataset (the oldest forgotten first). */
const VERIFIED_KEYS = 100_000;
/** How far back probe lag samples count. */
const LAG_WINDOW_MS = 15 * 60_000;
/** How often a subscribed dataset's hint is recomputed when nothing pokes it. */
const POLL_MS = 1000;
/** Runs read back for the last whole pass that agreed. */
const AGREED_RUNS = 50;
/**
 * How old the cached "last pass that agreed" may grow before a key's request refreshes it in the background
 * (a pass another process ran tells this one nothing); the request itself never waits for it.
 */
const AGREED_REFRESH_MS = 60_000;

interface DatasetBoard {
  readonly watchLag: number[];
  readonly verified: Map<string, number>;
  readonly listeners: Set<(hint: DatasetHintView) => void>;
  timer?: NodeJS.Timeout | undefined;
  last?: string | undefined;
  /** When the last whole pass that found the dataset in agreement finished (null: none); undefined: not read. */
  agreed?: number | null | undefined;
  /** When `agreed` was read, and the read in flight. */
  agreedAt?: number | undefined;
  loading?: Promise<void> | undefined;
  /** Bumped by every run that ends: a read begun before it does not overwrite what it read later. */
  generation: number;
}

export class ConsistencyHints {
  private readonly boards = new Map<string, DatasetBoard>();

  constructor(
    private readonly config: ConcordConfig,
    private readonly state: StateStore,
    private readonly now: () => number,
  ) {
    for (const ds of config.datasets)
      this.boards.set(ds.name, { watchLag: [], verified: new Map(), listeners: new Set(), generation: 0 });
  }

  /** Reads every dataset's last agreeing pass (serve's start), so no key's request has to. */
  async load(): Promise<void> {
    await Promise.all([...this.boards.keys()].map((d) => this.loadAgreed(d)));
  }

  /**
   * A whole pass of the dataset ended (a serve pass, or a change feed's gap pass): the last pass that
   * agreed may have changed, so it is read again, in the background.
   */
  noteRun(dataset: string): void {
    const b = this.boards.get(dataset);
    if (!b) return;
    b.generation++;
    b.loading = undefined;
    void this.loadAgreed(dataset).catch(() => {});
  }

  /** A change-feed check took `seconds` from taking the batch to its verified end. */
  noteLag(dataset: string, seconds: number): void {
    const b = this.boards.get(dataset);
    if (!b) return;
    b.watchLag.push(seconds);
    if (b.watchLag.length > WATCH_SAMPLES) b.watchLag.splice(0, b.watchLag.length - WATCH_SAMPLES);
  }

  /** These keys (`keyId`) were found in agreement, or repaired and verified, at `at`. */
  noteVerified(dataset: string, keys: readonly string[], at: number): void {
    const b = this.boards.get(dataset);
    if (!b) return;
    for (const k of keys) {
      b.verified.delete(k);
      b.verified.set(k, at);
    }
    for (const k of b.verified.keys()) {
      if (b.verified.size <= VERIFIED_KEYS) break;
      b.verified.delete(k);
    }
  }

  /** Something changed for the dataset: subscribers get its new hint if it differs. */
  poke(dataset: string): void {
    const b = this.boards.get(dataset);
    if (b?.listeners.size) void this.publish(dataset, b);
  }

  async hint(dataset: string): Promise<DatasetHintView> {
    const b = this.board(dataset);
    const since = this.now() - LAG_WINDOW_MS;
    const [openDivergences, openEscalations, probes] = await Promise.all([
      this.state.countDivergent(dataset),
      this.state.countEscalations({ dataset, status: "open" }),
      this.state.listSamples({ dataset, series: "lag", since, limit: 10_000 }),
    ]);
    const lagThresholdSeconds = this.lagThreshold(dataset);
    const hint = datasetHint({
      openDivergences,
      openEscalations,
      lagSeconds: [...probes.map((s) => s.value), ...b.watchLag],
      lagThresholdSeconds,
    });
    return { dataset, at: new Date(this.now()).toISOString(), lagThresholdSeconds, ...hint };
  }

  async keyHint(dataset: string, key: Key): Promise<KeyHintView> {
    const b = this.board(dataset);
    const width = this.config.datasets.find((d) => d.name === dataset)!.key.length;
    if (key.length !== width)
      throw Object.assign(
        new Error(
          `key: dataset ${dataset} has ${width} key column${width === 1 ? "" : "s"}, got ${key.length} value${key.length === 1 ? "" : "s"}`,
        ),
        { statusCode: 400 },
      );
    const id = keyId(key);
    const seen = await this.state.getDivergent(dataset, id);
    let verified = b.verified.get(id);
    // A whole pass that found the dataset in agreement verified every key (cached: see noteRun).
    if (b.agreed === undefined) await this.loadAgreed(dataset);
    else if (this.now() - (b.agreedAt ?? 0) > AGREED_REFRESH_MS)
      void this.loadAgreed(dataset).catch(() => {});
    const agreed = b.agreed ?? undefined;
    if (agreed !== undefined && (verified === undefined || agreed > verified)) verified = agreed;
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      dataset,
      key,
      divergent: seen !== undefined,
      repairPending: seen !== undefined,
      divergentSince: iso(seen?.firstSeen),
      lastVerifiedAt: iso(verified),
    };
  }

  /**
   * Calls `listener` with the dataset's hint now and whenever it changes (state, counts or lag), checked on
   * every poke and every second; returns the unsubscribe function.
   */
  subscribe(dataset: string, listener: (hint: DatasetHintView) => void): () => void {
    const b = this.board(dataset);
    b.listeners.add(listener);
    b.last = undefined;
    void this.publish(dataset, b);
    b.timer ??= setInterval(() => void this.publish(dataset, b), POLL_MS);
    b.timer.unref();
    return () => {
      b.listeners.delete(listener);
      if (!b.listeners.size && b.timer) {
        clearInterval(b.timer);
        b.timer = undefined;
      }
    };
  }

  /** Stops every stream's timer. */
  close(): void {
    for (const b of this.boards.values()) {
      if (b.timer) clearInterval(b.timer);
      b.timer = undefined;
      b.listeners.clear();
    }
  }

  /**
   * Reads when the dataset's last whole pass that agreed finished: one read at a time per dataset, and a
   * read overtaken by a run that ended meanwhile (noteRun) leaves the value to the read that run started.
   */
  private loadAgreed(dataset: string): Promise<void> {
    const b = this.board(dataset);
    if (b.loading !== undefined) return b.loading;
    const generation = b.generation;
    const at = this.now();
    const loading: Promise<void> = this.state
      .listRuns({ dataset, limit: AGREED_RUNS })
      .then((runs) => {
        // A dirty-segment pass agreed only if its check of the changed keys did too (folded into the pass).
        const pass = foldKeyRunRecords(runs).find(
          (r) => r.status === "ok" && r.finishedAt !== undefined && /^(serve |watch pass)/.test(r.command),
        );
        if (b.generation !== generation) return;
        b.agreed = pass?.finishedAt ?? null;
        b.agreedAt = at;
      })
      .finally(() => {
        if (b.loading === loading) b.loading = undefined;
      });
    b.loading = loading;
    return loading;
  }

  private board(dataset: string): DatasetBoard {
    const b = this.boards.get(dataset);
    if (!b) throw new TriggerError("unknown-dataset", `no dataset named ${dataset}`);
    return b;
  }

  /** The smallest `lag > X` alert threshold that covers the dataset, else 30 s. */
  private lagThreshold(dataset: string): number {
    const limits = this.config.alerts
      .filter((a) => a.condition.kind === "lag" && (a.dataset === undefined || a.dataset === dataset))
      .map((a) => (a.condition.kind === "lag" ? a.condition.thresholdSeconds : Number.POSITIVE_INFINITY));
    return limits.length ? Math.min(...limits) : 30;
  }

  private async publish(dataset: string, b: DatasetBoard): Promise<void> {
    try {
      const hint = await this.hint(dataset);
      const { at: _at, ...figures } = hint;
      const text = JSON.stringify(figures);
      if (text === b.last) return;
      b.last = text;
      for (const l of b.listeners) l(hint);
    } catch {
      // The state store is unreachable for a moment: the next poll tries again.
    }
  }
}

/**
 * A key as a client spelt it (`?key=`), in the canonical text its columns are stored by: an integer part
 * without sign or leading zeros (`07` and `+7` are key 7), a bytes part in lowercase hex. A part its column
 * cannot hold (`abc` for an integer) is a 400 naming it, not a hint about a key that cannot exist. Before the
 * dataset was first described (`columns` undefined) the parts are taken as given.
 */
export function hintKey(key: Key, columns: readonly ColumnSpec[] | undefined): Key {
  if (!columns || columns.length !== key.length) return key;
  const refuse = (part: string, column: string, what: string) =>
    Object.assign(new Error(`key: ${JSON.stringify(part)} is not ${what} (key column ${column})`), {
      statusCode: 400,
    });
  return key.map((part, i) => {
    const { name, type } = columns[i]!;
    if (part === null) return part;
    if (type === "integer") {
      if (!/^[+-]?\d+$/.test(part)) throw refuse(part, name, "an integer");
      return BigInt(part).toString();
    }
    if (type === "bytes") {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(part)) throw refuse(part, name, "bytes in hex");
      return part.toLowerCase();
    }
    return part;
  });
}
