/**
 * Consistency hints for applications (`GET /api/hints/…`): per dataset fresh, lagging or diverged, per key
 * divergent or not and when last verified, and a stream of changes. Reads the state store; keeps in memory
 * only bounded recent figures (change-feed check latencies, keys recently verified).
 */
import type { ConcordConfig } from "../config/load-config.js";
import { datasetHint } from "../core/consistency-hint.js";
import { type Key, keyId } from "../core/model.js";
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

interface DatasetBoard {
  readonly watchLag: number[];
  readonly verified: Map<string, number>;
  readonly listeners: Set<(hint: DatasetHintView) => void>;
  timer?: NodeJS.Timeout | undefined;
  last?: string | undefined;
}

export class ConsistencyHints {
  private readonly boards = new Map<string, DatasetBoard>();

  constructor(
    private readonly config: ConcordConfig,
    private readonly state: StateStore,
    private readonly now: () => number,
  ) {
    for (const ds of config.datasets)
      this.boards.set(ds.name, { watchLag: [], verified: new Map(), listeners: new Set() });
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
    // A whole pass that found the dataset in agreement verified every key.
    const runs = await this.state.listRuns({ dataset, limit: 50 });
    const pass = runs.find(
      (r) => r.status === "ok" && r.finishedAt !== undefined && /^(serve |watch pass)/.test(r.command),
    );
    if (pass?.finishedAt !== undefined && (verified === undefined || pass.finishedAt > verified))
      verified = pass.finishedAt;
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
