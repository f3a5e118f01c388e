/**
 * Convergence probes: a canary record written to a dataset's source replica and polled for on the others,
 * to measure how long replication takes and to catch reads that go back in time. The canary lives at a
 * key the dataset leaves out of comparison (`probe.key`); probes never touch user records.
 */
import type { ProbeConfig } from "../config/load-config.js";
import type { Connector } from "../connectors/connector.js";
import { type CanonicalValue, canonicalValue } from "../core/canonical.js";
import { fingerprintRow } from "../core/fingerprint.js";
import type { Key, RecordShape } from "../core/model.js";

/** What one probe saw. */
export interface ProbeOutcome {
  /** The canary's sequence number (milliseconds since the epoch at the write, made strictly increasing). */
  readonly seq: number;
  /** When the source acknowledged the write (ms). */
  readonly at: number;
  readonly source: string;
  /** Seconds from the acknowledged write until the canary was read on each replica; null: not within the timeout. */
  readonly lag: Readonly<Record<string, number | null>>;
  /** Replicas that showed the canary on the first read after the source acknowledged it (they were not behind). */
  readonly firstRead?: readonly string[];
  /** Reads of an older canary after the write was acknowledged (on the source) or after a newer one was seen. */
  readonly anomalies: readonly { readonly replica: string; readonly detail: string }[];
  /** Set when the canary could not be written (nothing was polled). */
  readonly error?: string;
}

export interface ProberOptions {
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** First poll interval (ms, default 20); it grows by half each round up to `maxPollMs` (default 500). */
  readonly pollMs?: number;
  readonly maxPollMs?: number;
  readonly signal?: AbortSignal;
}

const REMEMBERED = 256;
const INT32_MAX = 2_147_483_647;

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

/** The canary's values for `seq`, in shape order: the configured ones, the rest generated from `seq`. */
export function canaryValues(
  shape: RecordShape,
  probe: ProbeConfig,
  seq: number,
  at: number,
): CanonicalValue[] {
  return shape.columns.map((c) => {
    if (Object.hasOwn(probe.values, c.name)) return canonicalValue(c.type, probe.values[c.name]);
    switch (c.type) {
      case "integer":
      case "decimal":
      case "float":
        // Small enough for a 32-bit column; still different from one probe to the next.
        return canonicalValue(c.type, seq % INT32_MAX);
      case "boolean":
        return canonicalValue(c.type, seq % 2 === 0);
      case "text":
        return canonicalValue(c.type, `concord-probe:${seq}`);
      case "timestamp":
        return canonicalValue(c.type, new Date(at));
      case "json":
        return canonicalValue(c.type, { concordProbe: seq });
      case "bytes":
        return canonicalValue(c.type, Buffer.from(`concord-probe:${seq}`));
    }
    return null;
  });
}

/** Probes one dataset, one canary at a time. Remembers what each replica has shown, to catch reads going back. */
export class Prober {
  private lastSeq = 0;
  /** Fingerprint of each recent canary → its seq. */
  private readonly written = new Map<string, number>();
  /** Per replica, the newest canary seq it has shown. */
  private readonly newestSeen = new Map<string, number>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly probe: ProbeConfig,
    private readonly shape: RecordShape,
    private readonly key: Key,
    private readonly replicas: ReadonlyMap<string, Connector>,
    private readonly options: ProberOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Writes the next canary and polls every probed replica until it appears there or the timeout passes. */
  async run(): Promise<ProbeOutcome> {
    const { probe } = this;
    const source = this.replicas.get(probe.source);
    const seq = Math.max(Math.floor(this.now()), this.lastSeq + 1);
    this.lastSeq = seq;
    if (!source)
      return { seq, at: this.now(), source: probe.source, lag: {}, anomalies: [], error: "not open" };
    const values = canaryValues(this.shape, probe, seq, this.now());
    const fingerprint = fingerprintRow(this.key, values);
    let at: number;
    try {
      await this.write(source, values);
      at = this.now();
    } catch (err) {
      return { seq, at: this.now(), source: probe.source, lag: {}, anomalies: [], error: message(err) };
    }
    this.written.set(fingerprint, seq);
    if (this.written.size > REMEMBERED) this.written.delete(this.written.keys().next().value!);

    const anomalies: { replica: string; detail: string }[] = [];
    // Read your own write: the source must show the canary it has just acknowledged.
    const own = await this.read(source);
    if (own !== fingerprint) {
      const older = own ? this.written.get(own) : undefined;
      anomalies.push({
        replica: probe.source,
        detail: `read ${older ? `canary ${older}` : own ? "another record" : "no canary"} right after canary ${seq} was acknowledged`,
      });
    }

    const lag: Record<string, number | null> = {};
    const firstRead: string[] = [];
    let round = 0;
    let pending = probe.replicas.filter((r) => this.replicas.has(r));
    let wait = this.options.pollMs ?? 20;
    const deadline = at + probe.timeoutMs;
    while (pending.length) {
      const reads = await Promise.all(
        pending.map(async (name) => {
          try {
            return await this.read(this.replicas.get(name)!);
          } catch {
            return undefined;
          }
        }),
      );
      const seenAt = this.now();
      pending = pending.filter((name, i) => {
        const fp = reads[i];
        const shown = fp ? this.written.get(fp) : undefined;
        const newest = this.newestSeen.get(name) ?? 0;
        // Once per replica and probe: polling the same stale value again is the same anomaly.
        if (shown !== undefined && shown < newest && !anomalies.some((a) => a.replica === name)) {
          anomalies.push({
            replica: name,
            detail: `read canary ${shown} after having shown canary ${newest}`,
          });
        }
        if (shown !== undefined && shown > newest) this.newestSeen.set(name, shown);
        if (fp === fingerprint) {
          lag[name] = (seenAt - at) / 1000;
          if (round === 0) firstRead.push(name);
          return false;
        }
        return true;
      });
      round++;
      if (!pending.length || seenAt >= deadline || this.options.signal?.aborted) break;
      await this.sleep(Math.min(wait, Math.max(0, deadline - seenAt)));
      wait = Math.min(this.options.maxPollMs ?? 500, wait * 1.5);
    }
    for (const name of pending) lag[name] = null;
    return { seq, at, source: probe.source, lag, firstRead, anomalies };
  }

  /** The canary's fingerprint on a replica now: null when absent, undefined when unreadable. */
  private async read(connector: Connector): Promise<string | null | undefined> {
    const [rec] = await connector.fetchRecords(this.shape, [this.key]);
    return rec ? rec.fingerprint : null;
  }

  /** Writes the canary conditionally (never blind), re-reading once if another prober got there first. */
  private async write(source: Connector, values: CanonicalValue[]): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const expected = (await this.read(source)) ?? null;
      const [outcome] = await source.applyWrites(this.shape, [{ key: this.key, expected, next: values }]);
      if (outcome !== "superseded") return;
    }
    throw new Error("the canary record keeps changing under the probe (another prober on the same key?)");
  }
}
