/** The simulated world: replicas, clients, asynchronous replication and injected faults, all in virtual time from one seed. */
import type { CanonicalValue } from "../core/canonical.js";
import { formatMicros } from "../core/canonical.js";
import type { ColumnSpec, Key } from "../core/model.js";
import { keyId } from "../core/model.js";
import { seededRandom } from "../core/random.js";
import { compareVectors, parseVersionVector } from "../core/version.js";
import { EventQueue } from "./event-queue.js";
import type { FaultKind } from "./fault-kinds.js";
import { type Row, SimReplica } from "./sim-replica.js";

export type VersionMode = "counter" | "timestamp" | "vector";
export type WriterMode = "primary" | "all";
export { FAULT_KINDS, type FaultKind } from "./fault-kinds.js";

export const KEY_COLUMNS: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
export const COLUMNS: readonly ColumnSpec[] = [
  { name: "value", type: "text" },
  { name: "version", type: "integer" },
  { name: "updated_at", type: "timestamp" },
  { name: "vv", type: "json" },
];

/** An acknowledged client write (what must not be lost, in the policy's terms). */
export interface AckedWrite {
  readonly at: number;
  readonly replica: string;
  readonly row: Row | null;
}

export interface WorldOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly keys: number;
  readonly writes: number;
  /** Client writes happen in [0, writePeriodMs); faults too, and all heal by then. */
  readonly writePeriodMs: number;
  readonly faults: ReadonlySet<FaultKind>;
  readonly versions: VersionMode;
  readonly writers: WriterMode;
  /** Fraction of client operations that delete (primary mode only: without tombstones a multi-writer delete is ambiguous). */
  readonly deleteFraction: number;
  /** Standing fault rates skewed by replica, column and key range (the learning benchmark); none by default. */
  readonly skew?: FaultSkew | undefined;
  /**
   * Primary mode: from this virtual time on the client writes go to r1 instead of r0 (a failover; the
   * per-key version sequence carries on). Undefined: r0 takes every write.
   */
  readonly writerMovesAtMs?: number | undefined;
}

/**
 * Fault rates that stay on for the whole write period, skewed so evidence has something to learn: a replica
 * several times less reliable than the others, drift concentrated in a few key ranges, corruption that hits
 * some columns more than others. A rate is `base × replica factor × (hot range ? hotFactor : 1)`, drawn from
 * the world's seeded generator, so a seed replays exactly.
 */
export interface FaultSkew {
  /** Probability that a replication message to a replica is lost (then the replica lags: stale, missing). */
  readonly loss: number;
  /** Probability that a replicated write lands silently corrupted (same version, another value: a conflict). */
  readonly corrupt: number;
  /** Factor per replica name (default 1): `{ r2: 5 }` makes r2 five times as faulty. */
  readonly replicas?: Readonly<Record<string, number>>;
  /** Key id ranges, inclusive, where the rates are multiplied by `hotFactor`. */
  readonly hotRanges?: readonly (readonly [number, number])[];
  readonly hotFactor?: number;
  /** Relative weight of each column a corruption alters (default: value only). */
  readonly columns?: Readonly<Partial<Record<"value" | "updated_at", number>>>;
}

/** One line of a key's history, for the minimal trace printed with a violation. */
export interface TraceEvent {
  readonly t: number;
  readonly what: string;
}

const BASE_MS = Date.UTC(2026, 0, 1);

/** The fault schedule entry: what happened when (printed with violations, counted in the report). */
export interface FaultEvent {
  readonly t: number;
  readonly kind: FaultKind;
  readonly detail: string;
}

/**
 * Holds every replica, schedules client writes, replication messages and faults on the event queue, and
 * records acknowledged writes and per-key traces. All randomness comes from the seed.
 */
export class SimWorld {
  readonly queue = new EventQueue();
  readonly rand: () => number;
  readonly replicas: SimReplica[];
  readonly acked = new Map<string, AckedWrite[]>();
  readonly traces = new Map<string, TraceEvent[]>();
  readonly faultLog: FaultEvent[] = [];
  readonly cut = new Set<string>();
  /** Concord writes that landed on a state other than the one detection observed (must stay empty). */
  readonly clobbers: {
    t: number;
    replica: string;
    key: string;
    before: string | null;
    expected: string | null;
  }[] = [];
  counters = { clientWrites: 0, acked: 0, refused: 0, messages: 0, delivered: 0, dropped: 0, lostOnCrash: 0 };
  /** Row texts a skewed corruption produced: a Concord write that copies one is a wrong repair. */
  readonly corruptRows = new Set<string>();
  /** Every skewed fault that made a key diverge, and when (virtual ms): detection latency is measured from it. */
  readonly driftEvents: { readonly key: Key; readonly t: number }[] = [];
  private lossRate = 0;
  private duplicateRate = 0;
  private reorderRate = 0;
  private writeSeq = 0;
  private readonly nextVersion = new Map<string, number>();

  constructor(readonly options: WorldOptions) {
    this.rand = seededRandom(options.seed);
    this.replicas = Array.from(
      { length: options.replicas },
      (_, i) => new SimReplica(`r${i}`, KEY_COLUMNS, COLUMNS),
    );
  }

  get now(): number {
    return this.queue.now;
  }

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  trace(key: Key, what: string): void {
    const id = keyId(key);
    let list = this.traces.get(id);
    if (!list) {
      list = [];
      this.traces.set(id, list);
    }
    list.push({ t: this.now, what });
    if (list.length > 60) list.shift();
  }

  /** A replica's local clock, as epoch milliseconds (skewed). */
  clock(r: SimReplica): number {
    return BASE_MS + this.now + r.skewMs;
  }

  /** Seeds every replica with the same rows (version 1), flushed. */
  seedRows(): void {
    for (let id = 1; id <= this.options.keys; id++) {
      const key = [String(id)];
      const row = this.row(key, `init-${id}`, 1, BASE_MS, { r0: 1 });
      this.nextVersion.set(keyId(key), 1);
      for (const r of this.replicas) r.write(key, row, true);
    }
  }

  private row(key: Key, value: string, version: number, atMs: number, vv: Record<string, number>): Row {
    const sorted = Object.fromEntries(Object.entries(vv).sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      id: key[0]!,
      value,
      version: String(version),
      updated_at: formatMicros(BigInt(Math.round(atMs * 1000))),
      vv: JSON.stringify(sorted),
    };
  }

  /** Schedules the whole client workload and the faults. */
  schedule(): void {
    const { writes, writePeriodMs } = this.options;
    for (let i = 0; i < writes; i++) {
      const at = this.rand() * writePeriodMs;
      this.queue.after(at, () => this.clientWrite());
    }
    for (const r of this.replicas) this.every(200, () => r.flush(), writePeriodMs * 10);
    this.scheduleFaults();
  }

  private every(ms: number, run: () => void, until: number): void {
    const tick = () => {
      run();
      if (this.now + ms <= until) this.queue.after(ms, tick);
    };
    this.queue.after(ms, tick);
  }

  private writer(): SimReplica {
    if (this.options.writers === "primary") {
      const moved = this.options.writerMovesAtMs !== undefined && this.now >= this.options.writerMovesAtMs;
      return this.replicas[moved ? 1 : 0]!;
    }
    return this.replicas[this.int(this.replicas.length)]!;
  }

  private clientWrite(): void {
    const r = this.writer();
    const id = 1 + this.int(this.options.keys);
    const key = [String(id)];
    this.counters.clientWrites++;
    if (!r.up) {
      this.counters.refused++;
      this.trace(key, `client write refused: ${r.name} is down`);
      return;
    }
    const local = r.get(key);
    const seq = ++this.writeSeq;
    const deleting = this.options.writers === "primary" && local && this.rand() < this.options.deleteFraction;
    let row: Row | null;
    if (deleting) {
      row = null;
    } else {
      // The primary orders writes with a per-key sequence (it survives deletes); multi-writer clients
      // increment what their replica holds, so concurrent writes can share a counter (a conflict).
      const id0 = keyId(key);
      const version =
        this.options.writers === "primary"
          ? (this.nextVersion.get(id0) ?? 0) + 1
          : Number(local?.version ?? 0) + 1;
      this.nextVersion.set(id0, version);
      // The primary's vector entry follows its per-key sequence, so it too survives deletes.
      const vv: Record<string, number> = local?.vv ? (JSON.parse(local.vv) as Record<string, number>) : {};
      vv[r.name] = this.options.writers === "primary" ? version : (vv[r.name] ?? 0) + 1;
      row = this.row(key, `w${seq}@${r.name}`, version, this.clock(r), vv);
    }
    r.write(key, row, true);
    this.counters.acked++;
    const list = this.acked.get(keyId(key)) ?? [];
    list.push({ at: this.now, replica: r.name, row });
    this.acked.set(keyId(key), list);
    this.trace(key, `client ${row ? `wrote ${row.value} v${row.version}` : "deleted"} on ${r.name} (acked)`);
    for (const s of this.replicas) if (s !== r) this.send(r, s, key, row);
  }

  private link(a: SimReplica, b: SimReplica): string {
    return a.name < b.name ? `${a.name}|${b.name}` : `${b.name}|${a.name}`;
  }

  /** The skewed rate of a standing fault on replica `to` for `key` (0 without skew). */
  private skewed(base: number, to: SimReplica, key: Key): number {
    const skew = this.options.skew;
    if (!skew || base === 0) return 0;
    const id = Number(key[0]);
    const hot = (skew.hotRanges ?? []).some(([a, b]) => id >= a && id <= b);
    return base * (skew.replicas?.[to.name] ?? 1) * (hot ? (skew.hotFactor ?? 1) : 1);
  }

  /** True when `key` falls in a hot range of the skew. */
  isHot(key: Key): boolean {
    const id = Number(key[0]);
    return (this.options.skew?.hotRanges ?? []).some(([a, b]) => id >= a && id <= b);
  }

  private markDrift(key: Key): void {
    this.driftEvents.push({ key, t: this.now });
  }

  private send(from: SimReplica, to: SimReplica, key: Key, row: Row | null): void {
    this.counters.messages++;
    const skewLoss = this.options.skew ? this.rand() < this.skewed(this.options.skew.loss, to, key) : false;
    if (skewLoss) this.markDrift(key);
    if (this.cut.has(this.link(from, to)) || skewLoss || this.rand() < this.lossRate) {
      this.counters.dropped++;
      this.trace(key, `replication ${from.name}→${to.name} lost`);
      return;
    }
    const copies = this.rand() < this.duplicateRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = 20 + this.rand() * 180 + (this.rand() < this.reorderRate ? this.rand() * 2000 : 0);
      this.queue.after(delay, () => this.deliver(from, to, key, row));
    }
  }

  /** The application's own replication rule: apply only what is newer by the version mode. */
  private deliver(from: SimReplica, to: SimReplica, key: Key, row: Row | null): void {
    if (!to.up || this.cut.has(this.link(from, to))) {
      this.counters.dropped++;
      this.trace(key, `replication ${from.name}→${to.name} dropped (${to.up ? "partition" : "down"})`);
      return;
    }
    const local = to.get(key);
    if (!this.newer(row, local)) {
      this.trace(key, `replication ${from.name}→${to.name} ignored (not newer)`);
      return;
    }
    const skew = this.options.skew;
    let landed = row;
    if (row && skew && this.rand() < this.skewed(skew.corrupt, to, key)) {
      landed = this.corrupted(row, skew);
      this.corruptRows.add(SimWorld.rowText(landed));
      this.markDrift(key);
      this.trace(key, `silent corruption on ${to.name} (skewed)`);
    }
    to.write(key, landed, false);
    this.counters.delivered++;
    this.trace(
      key,
      `replication ${from.name}→${to.name} applied ${row ? `${row.value} v${row.version}` : "delete"}`,
    );
  }

  /** The row with one column altered, the column drawn by the skew's weights. */
  private corrupted(row: Row, skew: FaultSkew): Row {
    const weights = Object.entries(skew.columns ?? { value: 1 }).filter(([, w]) => (w ?? 0) > 0) as [
      string,
      number,
    ][];
    const pick = this.rand() * weights.reduce((n, [, w]) => n + w, 0);
    let upTo = 0;
    const column =
      weights.find(([, w]) => {
        upTo += w;
        return pick < upTo;
      })?.[0] ?? "value";
    if (column === "updated_at") {
      // The last microsecond digit moves: still a valid timestamp, now another one.
      const text = String(row.updated_at);
      const digit = Number(text.at(-2));
      return { ...row, updated_at: `${text.slice(0, -2)}${(digit + 1) % 10}Z` };
    }
    return { ...row, value: `${row.value}~corrupt` };
  }

  private newer(incoming: Row | null, local: Row | undefined): boolean {
    if (!local) return incoming !== null;
    if (!incoming) return true;
    switch (this.options.versions) {
      case "counter":
        return Number(incoming.version) > Number(local.version);
      case "timestamp":
        return (incoming.updated_at ?? "") > (local.updated_at ?? "");
      case "vector":
        return (
          compareVectors(parseVersionVector(incoming.vv ?? "{}"), parseVersionVector(local.vv ?? "{}")) ===
          "after"
        );
    }
  }

  private fault(kind: FaultKind, detail: string): void {
    this.faultLog.push({ t: Math.round(this.now), kind, detail });
  }

  private window(kind: FaultKind, run: (start: number, end: number) => void): void {
    if (!this.options.faults.has(kind)) return;
    const period = this.options.writePeriodMs;
    const count = 1 + this.int(3);
    for (let i = 0; i < count; i++) {
      const start = this.rand() * period * 0.8;
      const end = Math.min(period, start + 500 + this.rand() * period * 0.3);
      run(start, end);
    }
  }

  private scheduleFaults(): void {
    const pick = () => this.replicas[this.int(this.replicas.length)]!;
    if (this.options.faults.has("skew")) {
      for (const r of this.replicas) {
        r.skewMs = Math.round((this.rand() - 0.5) * 3000);
        this.fault("skew", `${r.name} clock ${r.skewMs >= 0 ? "+" : ""}${r.skewMs}ms`);
      }
    }
    this.window("partition", (start, end) => {
      const a = pick();
      const others = this.replicas.filter((r) => r !== a);
      const engineToo = this.rand() < 0.5;
      this.queue.after(start, () => {
        for (const b of others) this.cut.add(this.link(a, b));
        if (engineToo) a.unreachable = true;
        this.fault(
          "partition",
          `${a.name} cut off from ${others.map((o) => o.name).join(",")}${engineToo ? " and Concord" : ""}`,
        );
      });
      this.queue.after(end, () => {
        for (const b of others) this.cut.delete(this.link(a, b));
        a.unreachable = false;
        this.fault("partition", `${a.name} healed`);
      });
    });
    const rateWindow = (kind: FaultKind, set: (v: number) => void, rate: number) =>
      this.window(kind, (start, end) => {
        this.queue.after(start, () => {
          set(rate);
          this.fault(kind, `rate ${rate}`);
        });
        this.queue.after(end, () => {
          set(0);
          this.fault(kind, "off");
        });
      });
    rateWindow("loss", (v) => (this.lossRate = v), 0.3);
    rateWindow("duplicate", (v) => (this.duplicateRate = v), 0.3);
    rateWindow("reorder", (v) => (this.reorderRate = v), 0.5);
    this.window("crash", (start, end) => {
      const r = pick();
      this.queue.after(start, () => {
        if (!r.up) return;
        const lost = r.crash();
        this.counters.lostOnCrash += lost;
        this.fault("crash", `${r.name} crashed, ${lost} unflushed writes lost`);
      });
      this.queue.after(end, () => {
        if (r.up) return;
        r.up = true;
        this.fault("crash", `${r.name} restarted`);
      });
    });
    this.window("corrupt", (start) => {
      this.queue.after(start, () => {
        const r = pick();
        const key = [String(1 + this.int(this.options.keys))];
        const row = r.get(key);
        if (!row || !r.up) return;
        r.write(key, { ...row, value: `${row.value}~corrupt` }, true);
        this.trace(key, `silent corruption on ${r.name}`);
        this.fault("corrupt", `${r.name} key ${key[0]} value corrupted`);
      });
    });
    this.window("write-fault", (start, end) => {
      const r = pick();
      const mode = this.rand() < 0.5 ? "reject" : "timeout";
      this.queue.after(start, () => {
        r.writeFault = mode;
        this.fault("write-fault", `${r.name} ${mode}s Concord's writes`);
      });
      this.queue.after(end, () => {
        r.writeFault = "none";
        this.fault("write-fault", `${r.name} writes healthy`);
      });
    });
  }

  /** Rows of every replica for a key, for checks. */
  rowsOf(key: Key): (Row | undefined)[] {
    return this.replicas.map((r) => r.get(key));
  }

  /** All keys any replica holds or any client wrote. */
  allKeys(): Key[] {
    const ids = new Set<string>();
    for (let id = 1; id <= this.options.keys; id++) ids.add(String(id));
    return [...ids].map((id) => [id]);
  }

  /** Canonical text of a row (for equality). */
  static rowText(row: Row | undefined): string {
    if (!row) return "∅";
    return COLUMNS.map((c) => row[c.name] as CanonicalValue).join("|");
  }
}
