/**
 * Recommendations: candidate policy changes that the evidence supports, each with that evidence (counts,
 * interval, example keys, audit entry ids). Never applied: a person tries one with `plan --candidate`. Pure.
 */
import { createHash } from "node:crypto";
import type { Reliability } from "./evidence.js";
import type { AuditExample, EvidenceSnapshot, PolicyBlock } from "./evidence-rows.js";
import type { Hotspot } from "./find-hotspots.js";
import type { Pattern } from "./find-patterns.js";
import type { ReplicaReliability } from "./rank-reliability.js";

/**
 * - `owner`: make the replica that is reliably right the owner (of the dataset, or of a column's merge rule).
 * - `merge-rule`: add the rule people keep choosing on escalated divergences of a column.
 * - `tolerance`: tolerate a numeric column's differences where nearly all of them are noise.
 * - `scan-hotspot`: scan a range where drift is genuine and not falling more often (no policy change:
 *   adaptive focus or a shorter schedule; `candidatePolicy` is null).
 */
export type RecommendationKind = "owner" | "merge-rule" | "tolerance" | "scan-hotspot";

/** One setting a recommendation changes, as a path in the config file. */
export interface PolicyChange {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface RecommendationEvidence {
  /** The counts behind it (settled, lost, picked, divergences, …). */
  readonly counts: Readonly<Record<string, number>>;
  /** The reliability interval it rests on, when it rests on one. */
  readonly interval?: Reliability | undefined;
  /** Up to five keys (as JSON key arrays) where the evidence shows, newest first. */
  readonly exampleKeys: readonly unknown[];
  /** The audit entries (seq) those examples were recorded in. */
  readonly auditIds: readonly number[];
}

export interface Recommendation {
  /** Stable for the same dataset, kind and subject (a recommendation keeps its id while it holds). */
  readonly id: string;
  readonly kind: RecommendationKind;
  readonly summary: string;
  readonly evidence: RecommendationEvidence;
  /** The dataset's whole policy block with the change made: the file `plan --candidate FILE` reads. */
  readonly candidatePolicy: PolicyBlock | null;
  /** What changes, path by path (the config diff). */
  readonly changes: readonly PolicyChange[];
}

/** Thresholds: how much evidence a recommendation needs. */
export interface RecommendOptions {
  /** Settled decisions the recommended owner needs (default 10). */
  readonly minSettled?: number;
  /** Noise-only divergences a column needs before a tolerance is recommended (default 10, and 80% of them). */
  readonly minNoise?: number;
}

const EXAMPLES = 5;

function recommendationId(dataset: string, kind: string, subject: string): string {
  return createHash("sha256").update(`${dataset}\n${kind}\n${subject}`).digest("hex").slice(0, 12);
}

interface Detected {
  readonly seq: number;
  readonly key: string;
  readonly keyJson: unknown;
  readonly class: string;
  readonly columns: readonly string[];
}

/** The audit's `detected` entries and `decided` entries by run and key, and `resolved` picks, of the dataset. */
function readAudit(dataset: string, audit: readonly AuditExample[]) {
  const detected = new Map<string, Detected>();
  const decided: { seq: number; detected: Detected; source?: string; targets: readonly string[] }[] = [];
  const picks: { seq: number; key: string; pick: string; keyJson: unknown }[] = [];
  const lastDetected = new Map<string, Detected>();
  for (const e of audit) {
    if (e.dataset !== dataset || !e.key) continue;
    const data = (e.data ?? {}) as Record<string, unknown>;
    const id = `${e.runId ?? ""}\n${e.key}`;
    if (e.type === "detected") {
      const d: Detected = {
        seq: e.seq,
        key: e.key,
        keyJson: data.keyJson ?? e.key,
        class: String(data.class ?? ""),
        columns: Array.isArray(data.columns) ? (data.columns as string[]) : [],
      };
      detected.set(id, d);
      lastDetected.set(e.key, d);
    } else if (e.type === "decided") {
      const d = detected.get(id);
      if (d)
        decided.push({
          seq: e.seq,
          detected: d,
          ...(typeof data.source === "string" ? { source: data.source } : {}),
          targets: Array.isArray(data.targets) ? (data.targets as string[]) : [],
        });
    } else if (e.type === "resolved" && typeof data.pick === "string" && data.ok === true) {
      picks.push({ seq: e.seq, key: e.key, pick: data.pick, keyJson: data.keyJson ?? e.key });
    }
  }
  return { decided, picks, lastDetected };
}

function examples(found: readonly { keyJson: unknown; seqs: readonly number[] }[]) {
  const newest = [...found].reverse().slice(0, EXAMPLES);
  return { exampleKeys: newest.map((f) => f.keyJson), auditIds: newest.flatMap((f) => f.seqs) };
}

/**
 * What the evidence recommends, in a stable order (owner, merge rules, hotspots). An owner is recommended
 * when one replica's interval lies wholly above every other's (overall: the dataset's owner; on a column
 * under `resolve: merge`: that column's merge rule `owner`) with at least `minSettled` settled decisions, and
 * the policy does not already say so. A merge rule is recommended from a `person-choice` pattern. A scan is
 * recommended for a range hotspot whose drift is genuine (it needed repairs) and not falling. A tolerance is recommended for a
 * numeric column when at least `minNoise` (and 80%) of its divergences differed only by noise (see
 * evidence-of-run's `noiseOf`), at the largest such difference rounded up, unless the policy's tolerance
 * already covers it.
 */
export function recommend(
  snapshot: EvidenceSnapshot,
  ranking: readonly ReplicaReliability[],
  patterns: readonly Pattern[],
  hotspots: readonly Hotspot[],
  options: RecommendOptions = {},
): Recommendation[] {
  const minSettled = options.minSettled ?? 10;
  const { dataset, policy } = snapshot;
  const prefix = `datasets.${dataset}.policy`;
  const audit = readAudit(dataset, snapshot.audit);
  const out: Recommendation[] = [];
  const staticOwner = typeof policy.owner === "string" ? policy.owner : undefined;
  const fieldOwner = typeof policy.owner === "object";

  const best = ranking[0];
  const above = (r: Reliability, others: readonly Reliability[]) =>
    r.settled >= minSettled && others.length > 0 && others.every((o) => r.low > o.high);
  if (
    best &&
    !fieldOwner &&
    staticOwner !== best.name &&
    above(
      best.reliability,
      ranking.slice(1).map((r) => r.reliability),
    )
  ) {
    const won = audit.decided.filter((d) => d.targets.length > 0 && !d.targets.includes(best.name));
    out.push({
      id: recommendationId(dataset, "owner", best.name),
      kind: "owner",
      summary: `make ${best.name} the owner: it held the winning value in ${best.reliability.settled - best.reliability.lost} of ${best.reliability.settled} settled decisions (${pct(best.reliability.low)}–${pct(best.reliability.high)}), above every other replica`,
      evidence: {
        counts: {
          settled: best.reliability.settled,
          lost: best.reliability.lost,
          ...Object.fromEntries(ranking.slice(1).map((r) => [`lost.${r.name}`, r.reliability.lost])),
        },
        interval: best.reliability,
        ...examples(won.map((d) => ({ keyJson: d.detected.keyJson, seqs: [d.detected.seq, d.seq] }))),
      },
      candidatePolicy: { ...policy, owner: best.name },
      changes: [{ path: `${prefix}.owner`, from: policy.owner ?? null, to: best.name }],
    });
  }

  if (policy.resolve === "merge" && !fieldOwner) {
    for (const column of snapshot.columns) {
      const per = ranking
        .map((r) => ({ name: r.name, rel: r.columns.find((c) => c.column === column)?.reliability }))
        .filter((r): r is { name: string; rel: Reliability } => r.rel !== undefined)
        .sort((a, b) => b.rel.low - a.rel.low);
      const top = per[0];
      if (!top || policy.merge?.[column] === "owner") continue;
      if (staticOwner !== undefined && staticOwner !== top.name) continue;
      if (
        !above(
          top.rel,
          per.slice(1).map((p) => p.rel),
        )
      )
        continue;
      const won = audit.decided.filter(
        (d) => d.detected.columns.includes(column) && !d.targets.includes(top.name) && d.targets.length > 0,
      );
      out.push({
        id: recommendationId(dataset, "owner", `${top.name}\n${column}`),
        kind: "owner",
        summary: `make ${top.name} the owner of ${column}: it held the winning ${column} in ${top.rel.settled - top.rel.lost} of ${top.rel.settled} (${pct(top.rel.low)}–${pct(top.rel.high)})`,
        evidence: {
          counts: { settled: top.rel.settled, lost: top.rel.lost },
          interval: top.rel,
          ...examples(won.map((d) => ({ keyJson: d.detected.keyJson, seqs: [d.detected.seq, d.seq] }))),
        },
        candidatePolicy: {
          ...policy,
          owner: top.name,
          merge: { ...(policy.merge ?? {}), [column]: "owner" },
        },
        changes: [
          ...(staticOwner === undefined ? [{ path: `${prefix}.owner`, from: null, to: top.name }] : []),
          { path: `${prefix}.merge.${column}`, from: policy.merge?.[column] ?? null, to: "owner" },
        ],
      });
    }
  }

  for (const p of patterns) {
    if (p.kind !== "person-choice" || !p.column) continue;
    if (fieldOwner || (staticOwner !== undefined && staticOwner !== p.replica)) continue;
    if (policy.resolve === "merge" && policy.merge?.[p.column] === "owner") continue;
    const column = p.column;
    const picked = audit.picks.filter((x) => {
      if (x.pick !== p.replica) return false;
      const d = audit.lastDetected.get(x.key);
      return !d || (d.class === p.class && d.columns.includes(column));
    });
    out.push({
      id: recommendationId(dataset, "merge-rule", `${p.class}\n${column}\n${p.replica}`),
      kind: "merge-rule",
      summary: `${p.summary}: add the merge rule "${column}: owner" with ${p.replica} as owner`,
      evidence: {
        counts: { picked: p.count, decisions: p.of },
        ...examples(picked.map((x) => ({ keyJson: x.keyJson, seqs: [x.seq] }))),
      },
      candidatePolicy: {
        ...policy,
        owner: p.replica,
        resolve: "merge",
        merge: { ...(policy.merge ?? {}), [column]: "owner" },
      },
      changes: [
        ...(staticOwner === undefined ? [{ path: `${prefix}.owner`, from: null, to: p.replica }] : []),
        ...(policy.resolve !== "merge"
          ? [{ path: `${prefix}.resolve`, from: policy.resolve ?? null, to: "merge" }]
          : []),
        { path: `${prefix}.merge.${column}`, from: policy.merge?.[column] ?? null, to: "owner" },
      ],
    });
  }

  const minNoise = options.minNoise ?? 10;
  for (const column of snapshot.columns) {
    const rows = snapshot.byReplica.filter(
      (r) => r.replica === "" && r.column === column && r.class !== "tolerated",
    );
    const divergences = rows.reduce((n, r) => n + r.divergences, 0);
    const noise = rows.reduce((n, r) => n + r.noise, 0);
    const largest = Math.max(0, ...rows.map((r) => r.noiseMax));
    const declared = policy.tolerance?.[column];
    if (noise < minNoise || noise < 0.8 * divergences || !(largest > 0)) continue;
    if (typeof declared === "number" && declared >= largest) continue;
    if (typeof declared === "string") continue;
    const bound = roundUp(largest);
    const seen = audit.decided.filter(
      (d) => d.detected.columns.length === 1 && d.detected.columns[0] === column,
    );
    out.push({
      id: recommendationId(dataset, "tolerance", column),
      kind: "tolerance",
      summary: `tolerate differences up to ${bound} in ${column}: ${noise} of its ${divergences} divergences differed only by noise (at most ${Number(largest.toPrecision(3))})`,
      evidence: {
        counts: { noise, divergences, largest: Number(largest.toPrecision(3)) },
        ...examples(seen.map((d) => ({ keyJson: d.detected.keyJson, seqs: [d.detected.seq, d.seq] }))),
      },
      candidatePolicy: { ...policy, tolerance: { ...(policy.tolerance ?? {}), [column]: bound } },
      changes: [{ path: `${prefix}.tolerance.${column}`, from: declared ?? null, to: bound }],
    });
  }

  for (const h of hotspots) {
    // Drift that needed repairs: escalated or transient divergences are not what more scanning fixes.
    if (h.kind !== "range" || h.nature !== "drift" || h.repaired === 0 || h.trend === "falling") continue;
    out.push({
      id: recommendationId(dataset, "scan-hotspot", h.where),
      kind: "scan-hotspot",
      summary: `scan range ${h.where} more often: ${h.divergences} divergences in the window (${h.lift.toFixed(1)}× the mean range), ${h.repaired} needed a repair, trend ${h.trend}`,
      evidence: {
        counts: {
          divergences: h.divergences,
          previous: h.previous,
          repaired: h.repaired,
          transient: h.transient,
        },
        exampleKeys: [],
        auditIds: [],
      },
      candidatePolicy: null,
      changes: [],
    });
  }
  return out;
}

/** `x` rounded up to two significant digits (a bound that reads cleanly and still covers `x`). */
export function roundUp(x: number): number {
  const step = 10 ** (Math.floor(Math.log10(x)) - 1);
  return Number((Math.ceil(x / step - 1e-9) * step).toPrecision(2));
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
