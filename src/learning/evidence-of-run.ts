/**
 * What each step of a run adds to the evidence aggregates: pure functions from what the engine records
 * (a plan, repair results, closed escalations, a person's pick) to increments. No I/O, no clock.
 */
import type { Divergence } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import type { Key, RecordShape } from "../core/model.js";
import { compareKeys, keyId } from "../core/model.js";
import type { CompiledPolicy } from "../core/policy.js";
import { type EvidenceCounts, type EvidenceIncrement, NOISE_RELATIVE } from "./evidence-increment.js";
import { EvidenceTally } from "./evidence-tally.js";

/** Where a key lies: its key range (segment index, -1 unknown) and the declared field's value ("" none). */
export interface EvidencePlace {
  readonly segment: number;
  readonly facet: string;
}

/**
 * The segment index of `key` among a run's segments cut at `bounds` (segment i is [bounds[i-1], bounds[i])),
 * by binary search. Undefined bounds (a run over a list of keys): -1, unknown.
 */
export function segmentOfKey(
  shape: Pick<RecordShape, "key">,
  bounds: readonly Key[] | undefined,
  key: Key,
): number {
  if (!bounds) return -1;
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(shape.key, bounds[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `placeOf` for a run's segments cut at `bounds`: a divergence's segment and its facet under `policy`. A bound
 * module-level function, not a closure made per call: V8 drops a dead closure's optimized code at every full
 * GC, so a closure made per segment was recompiled per segment (docs/benchmarks.md, "Callbacks recompiled per
 * batch").
 */
export function placeInSegments(
  shape: Pick<RecordShape, "key">,
  bounds: readonly Key[] | undefined,
  policy: Pick<CompiledPolicy, "owner" | "replicas">,
): (d: Divergence) => EvidencePlace {
  return placeInSegment.bind(undefined, { shape, bounds, policy });
}

function placeInSegment(
  at: {
    readonly shape: Pick<RecordShape, "key">;
    readonly bounds: readonly Key[] | undefined;
    readonly policy: Pick<CompiledPolicy, "owner" | "replicas">;
  },
  d: Divergence,
): EvidencePlace {
  return { segment: segmentOfKey(at.shape, at.bounds, d.key), facet: facetOf(d, at.policy) };
}

/**
 * The facet of a divergence: `field=value` when the policy owns records by a field's value (site-based
 * ownership) and the replicas holding the record agree on it; "" otherwise.
 */
export function facetOf(d: Divergence, policy: Pick<CompiledPolicy, "owner" | "replicas">): string {
  const o = policy.owner;
  if (o?.kind !== "field") return "";
  let value: string | null | undefined;
  for (const r of policy.replicas) {
    const rec = d.replicas[r];
    if (!rec?.present || !rec.values) continue;
    const v = rec.values[o.column] ?? null;
    if (value !== undefined && v !== value) return "";
    value = v;
  }
  return value === undefined || value === null ? "" : `${o.field}=${value}`;
}

/** Counts for one replica × column × class of a key's place. */
export interface Cell {
  readonly replica: string;
  readonly column: string;
  readonly class: string;
  readonly counts: Partial<EvidenceCounts>;
}

/** What recording a plan adds. */
export interface PlanEvidenceInput {
  readonly dataset: string;
  readonly at: number;
  readonly shape: Pick<RecordShape, "columns">;
  readonly divergences: readonly Divergence[];
  readonly decisions: readonly Decision[];
  /** Where each divergence lies. */
  readonly placeOf: (d: Divergence) => EvidencePlace;
}

/**
 * A recorded plan's evidence. Per divergence, on the dataset as a whole (replica ""): one divergence of its
 * class, for the record and for each differing column. Per replica whose version went backwards: one
 * regression. Per stale divergence, who was fresher (`freshnessCells`). Per decision that writes (propagate, delete, merge): every replica that took part is
 * `settled`, and each target `lost` (for the record, and for each differing column whose value the target
 * held differently from what is written; all differing columns when values are not known).
 */
export function planEvidence(input: PlanEvidenceInput): EvidenceIncrement[] {
  // Counted into cells as it goes (EvidenceTally): a plan's ~12 events per divergence touch a few dozen cells.
  const tally = new EvidenceTally(input.dataset, input.at);
  // Loops, not callbacks made per call: V8 recompiles such a callback after every full GC (docs/benchmarks.md,
  // "Callbacks recompiled per batch").
  const byKey = new Map<string, Divergence>();
  for (const d of input.divergences) byKey.set(keyId(d.key), d);
  const columnIndex = new Map<string, number>();
  for (let i = 0; i < input.shape.columns.length; i++) columnIndex.set(input.shape.columns[i]!.name, i);
  for (const d of input.divergences) {
    const { segment, facet } = input.placeOf(d);
    const cls = d.class;
    const noise = noiseOf(d, input.shape.columns);
    tally.add(segment, facet, "", "", cls, ONE_DIVERGENCE);
    for (const column of d.columns)
      tally.add(
        segment,
        facet,
        "",
        column,
        cls,
        noise ? { divergences: 1, noise: 1, noiseMax: noise.get(column)! } : ONE_DIVERGENCE,
      );
    for (const replica of d.regressed) tally.add(segment, facet, replica, "", cls, ONE_REGRESSION);
    for (const c of freshnessCells(d)) tally.add(segment, facet, c.replica, c.column, c.class, c.counts);
  }
  for (const decision of input.decisions) {
    if (decision.action !== "propagate" && decision.action !== "delete" && decision.action !== "merge")
      continue;
    const d = byKey.get(keyId(decision.key));
    if (!d) continue;
    const { segment, facet } = input.placeOf(d);
    const targets = decision.targets;
    for (const replica in d.replicas) {
      const lost = targets.includes(replica);
      tally.add(segment, facet, replica, "", d.class, lost ? SETTLED_LOST : SETTLED_KEPT);
      for (const column of d.columns) {
        const i = columnIndex.get(column);
        const held = d.replicas[replica];
        const known = i !== undefined && Array.isArray(decision.record) && held?.present && held.values;
        const lostHere = lost && (!known || held.values![i] !== decision.record![i]);
        tally.add(segment, facet, replica, column, d.class, lostHere ? SETTLED_LOST : SETTLED_KEPT);
      }
    }
  }
  return tally.increments();
}

/** Counts shared by every event of their kind (EvidenceTally.add reads them, never keeps them). */
const ONE_DIVERGENCE: Partial<EvidenceCounts> = { divergences: 1 };
const ONE_REGRESSION: Partial<EvidenceCounts> = { regressions: 1 };
const SETTLED_LOST: Partial<EvidenceCounts> = { settled: 1, lost: 1 };
const SETTLED_KEPT: Partial<EvidenceCounts> = { settled: 1, lost: 0 };

/**
 * A stale divergence's freshness evidence: every replica holding the record was `observed`, those holding an
 * older version than the newest are `behind`, and a replica that alone held the newest version is `ahead`
 * (it took a write the others had not received). Other classes say nothing of who is fresher: a conflict's
 * newest versions disagree, and a missing record may be an insert on one side or a delete on the other.
 */
export function freshnessCells(d: Divergence): Cell[] {
  if (d.class !== "stale") return [];
  const newest = new Set(d.newest);
  const cells: Cell[] = [];
  for (const [replica, held] of Object.entries(d.replicas)) {
    if (!held.present) continue;
    const counts: { -readonly [K in keyof EvidenceCounts]?: number } = { observed: 1 };
    if (!newest.has(replica)) counts.behind = 1;
    else if (d.newest.length === 1) counts.ahead = 1;
    cells.push({ replica, column: "", class: d.class, counts });
  }
  return cells;
}

/** One repair's result, as the evidence needs it. */
export interface RepairEvidenceResult {
  readonly key: Key;
  readonly target: string;
  readonly outcome: "applied" | "noop" | "superseded" | "failed" | "rolled-back";
}

const NUMERIC: ReadonlySet<string> = new Set(["integer", "decimal", "float", "float32"]);

/**
 * When every column a divergence differs in is numeric and differs by at most NOISE_RELATIVE of its values'
 * magnitude among the replicas holding the record, each column's absolute difference; otherwise undefined.
 * Tolerated and absent-record divergences are never noise.
 */
export function noiseOf(
  d: Divergence,
  columns: readonly { readonly name: string; readonly type: string }[],
): Map<string, number> | undefined {
  if (d.class === "tolerated" || d.class === "missing" || d.columns.length === 0) return undefined;
  const held = Object.values(d.replicas).filter((r) => r.present && r.values);
  if (held.length < 2) return undefined;
  const out = new Map<string, number>();
  for (const name of d.columns) {
    const i = columns.findIndex((c) => c.name === name);
    if (i < 0 || !NUMERIC.has(columns[i]!.type)) return undefined;
    const values = held.map((r) => Number(r.values![i]));
    if (values.some((v) => !Number.isFinite(v))) return undefined;
    const diff = Math.max(...values) - Math.min(...values);
    const scale = Math.max(...values.map(Math.abs));
    if (!(diff > 0) || diff > NOISE_RELATIVE * scale) return undefined;
    out.set(name, diff);
  }
  return out;
}

/** What the repair evidence needs of a divergence (a recovered repair knows no more of it). */
export type RepairedDivergence = Pick<Divergence, "key" | "class" | "columns">;

/** What settling a run's repairs adds. */
export interface RepairEvidenceInput<D extends RepairedDivergence = Divergence> {
  readonly dataset: string;
  readonly at: number;
  readonly results: readonly RepairEvidenceResult[];
  /** The divergence each repaired key was decided from (by `keyId`); keys without one are skipped. */
  readonly divergenceOf: (key: Key) => D | undefined;
  readonly placeOf: (d: D) => EvidencePlace;
  /** When the divergences were decided (the plan's time): time to convergence counts from here. */
  readonly decidedAt: number;
}

/**
 * Settled repairs' evidence. Per target replica: `repaired` (applied), `failed`, `rejected` (superseded: the
 * conditional write found the record changed). Per key whose every repair verified (applied or already
 * there) with at least one write: on the dataset as a whole, one divergence `repaired` and converged, its
 * time from decision to now, for the record and each differing column.
 */
export function repairEvidence<D extends RepairedDivergence>(
  input: RepairEvidenceInput<D>,
): EvidenceIncrement[] {
  // Counted into cells as it goes (EvidenceTally): a batch's repairs touch a few dozen cells.
  const tally = new EvidenceTally(input.dataset, input.at);
  const perKey = new Map<string, { d: D; wrote: boolean; ok: boolean }>();
  for (const r of input.results) {
    const d = input.divergenceOf(r.key);
    if (!d) continue;
    const { segment, facet } = input.placeOf(d);
    const counts: Partial<EvidenceCounts> =
      r.outcome === "applied"
        ? ONE_REPAIRED
        : r.outcome === "failed"
          ? ONE_FAILED
          : r.outcome === "superseded"
            ? ONE_REJECTED
            : NOTHING;
    tally.add(segment, facet, r.target, "", d.class, counts);
    const id = keyId(r.key);
    const k = perKey.get(id) ?? { d, wrote: false, ok: true };
    k.wrote ||= r.outcome === "applied";
    k.ok &&= r.outcome === "applied" || r.outcome === "noop";
    perKey.set(id, k);
  }
  const ms = Math.max(0, input.at - input.decidedAt);
  const converged: Partial<EvidenceCounts> = { repaired: 1, converged: 1, convergedMs: ms };
  for (const { d, wrote, ok } of perKey.values()) {
    if (!wrote || !ok) continue;
    const { segment, facet } = input.placeOf(d);
    tally.add(segment, facet, "", "", d.class, converged);
    for (const column of d.columns) tally.add(segment, facet, "", column, d.class, converged);
  }
  return tally.increments();
}

const ONE_REPAIRED: Partial<EvidenceCounts> = { repaired: 1 };
const ONE_FAILED: Partial<EvidenceCounts> = { failed: 1 };
const ONE_REJECTED: Partial<EvidenceCounts> = { rejected: 1 };
const NOTHING: Partial<EvidenceCounts> = {};

/** An escalation as the evidence needs it. */
export interface EscalationEvidence {
  readonly dataset: string;
  readonly key: Key;
  readonly class: string;
  readonly columns?: readonly string[] | undefined;
  readonly options: readonly string[];
  readonly createdAt: number;
}

/**
 * An open escalation closed because its key agrees again without any write: on the dataset as a whole, one
 * divergence that converged by itself, its time since the escalation opened.
 */
export function selfConvergedEvidence(
  e: Omit<EscalationEvidence, "options">,
  at: number,
  place: EvidencePlace,
): EvidenceIncrement[] {
  return ["", ...(e.columns ?? [])].map((column) => ({
    dataset: e.dataset,
    at,
    ...place,
    replica: "",
    column,
    class: e.class,
    counts: { selfConverged: 1, converged: 1, convergedMs: Math.max(0, at - e.createdAt) },
  }));
}

/**
 * A person settled an escalation by picking `pick` and the write verified: every replica among its options
 * (`replicas` filters options to the dataset's replicas) is `settled` and `personSettled`, every one but the
 * pick `lost` and `personLost`, for the record and each differing column; on the dataset as a whole, one
 * divergence repaired and converged, its time since the escalation opened.
 */
export function personEvidence(
  e: EscalationEvidence,
  pick: string,
  replicas: readonly string[],
  at: number,
  place: EvidencePlace,
): EvidenceIncrement[] {
  const known = new Set(replicas);
  const columns = ["", ...(e.columns ?? [])];
  const out: EvidenceIncrement[] = [];
  const base = { dataset: e.dataset, at, ...place, class: e.class };
  for (const replica of e.options) {
    if (!known.has(replica)) continue;
    const lost = replica === pick ? 0 : 1;
    for (const column of columns)
      out.push({
        ...base,
        replica,
        column,
        counts: { settled: 1, lost, personSettled: 1, personLost: lost },
      });
  }
  for (const column of columns)
    out.push({
      ...base,
      replica: "",
      column,
      counts: { repaired: 1, converged: 1, convergedMs: Math.max(0, at - e.createdAt) },
    });
  return out;
}

/** A convergence probe's outcome, as the evidence needs it (serve/probe.ts `ProbeOutcome` fits). */
export interface ProbeEvidenceInput {
  /** When the source acknowledged the canary, ms since the epoch. */
  readonly at: number;
  readonly source: string;
  /** Seconds until the canary was read on each polled replica; null: not within the timeout. */
  readonly lag: Readonly<Record<string, number | null>>;
  /** Polled replicas that showed the canary on the first read after the write was acknowledged. */
  readonly firstRead?: readonly string[] | undefined;
  readonly anomalies: readonly { readonly replica: string }[];
}

/**
 * A probe's freshness evidence (key range unknown, class ""): the source and every polled replica are
 * `observed`; a polled replica is `behind` unless it showed the canary on the first read, the source only
 * when it failed to read its own write. A canary that arrived adds its lag to `lagMs` and one to `probed`
 * (the source with lag 0); a timed-out one counts behind, not in the mean.
 */
export function probeEvidence(dataset: string, probe: ProbeEvidenceInput): EvidenceIncrement[] {
  const first = new Set(probe.firstRead ?? []);
  const place = { dataset, at: probe.at, segment: -1, facet: "", column: "", class: "" };
  const ownAnomaly = probe.anomalies.some((a) => a.replica === probe.source);
  const out: EvidenceIncrement[] = [
    {
      ...place,
      replica: probe.source,
      counts: { observed: 1, behind: ownAnomaly ? 1 : 0, probed: ownAnomaly ? 0 : 1 },
    },
  ];
  for (const [replica, lag] of Object.entries(probe.lag)) {
    if (replica === probe.source) continue;
    out.push({
      ...place,
      replica,
      counts:
        lag === null
          ? { observed: 1, behind: 1 }
          : {
              observed: 1,
              behind: first.has(replica) ? 0 : 1,
              probed: 1,
              lagMs: Math.round(lag * 1000),
            },
    });
  }
  return out;
}
