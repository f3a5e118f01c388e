/**
 * The escalation queue as people and programs see it (the CLI's `escalations` and the HTTP API): typed keys,
 * ISO times, who resolved what, groups by pattern, and the replicas' current values read on demand. Reads
 * replicas only through `observeKeys`; writes nothing.
 */
import { createHash } from "node:crypto";
import type { DatasetConfig } from "../config/load-config.js";
import type { CanonicalValue } from "../core/canonical.js";
import type { Key } from "../core/model.js";
import { keyId, keyToJson } from "../core/model.js";
import {
  type Escalation,
  type EscalationGroup,
  escalationPattern,
  type StateStore,
} from "../state/state-store.js";
import { observeKeys } from "./observe-keys.js";
import type { OpenReplica } from "./run-context.js";

/** What one replica held when the divergence was escalated. */
export interface ObservedView {
  readonly present: boolean;
  /** The record's fingerprint (null when absent). */
  readonly fingerprint: string | null;
}

/** An escalation as listed: typed key values, ISO times, and who closed it with which choice. */
export interface EscalationView {
  readonly id: string;
  readonly dataset: string;
  readonly key: readonly unknown[];
  readonly class: string;
  readonly reason: string;
  readonly options: readonly string[];
  readonly status: "open" | "resolved" | "rejected";
  readonly runId: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** The compared columns whose values differed ([] when none, or not recorded). */
  readonly columns: readonly string[];
  /** The replicas that lacked the record when it was escalated. */
  readonly absent: readonly string[];
  /** What each replica held when it was escalated (fingerprints, not values: `observeEscalations` reads those). */
  readonly replicas: Readonly<Record<string, ObservedView>>;
  /** The id of its group (`groupId`): escalations alike enough for one decision. */
  readonly group: string;
  /** ISO 8601; null while open. */
  readonly resolvedAt: string | null;
  /** Who closed it: `cli:<user>`, `api` (or the API token's name), `concord` (it found the replicas agreeing). */
  readonly resolvedBy: string | null;
  /** The replica whose state was made to win; null for a rejection or while open. */
  readonly pick: string | null;
  /** Why it was closed without a write ("the replicas agree now"), if it was. */
  readonly note: string | null;
}

/** A group of open escalations alike enough for one decision: same dataset, class, columns and absences. */
export interface EscalationGroupView {
  /** Stable for the same dataset and pattern; what `--group` / `group=` select. */
  readonly id: string;
  readonly dataset: string;
  readonly class: string;
  readonly columns: readonly string[];
  readonly absent: readonly string[];
  /** In words: "absent on b", "differs in note". */
  readonly description: string;
  readonly count: number;
  /** The first escalation of the group (in list order), e.g. to show its values. */
  readonly first: string;
  /** ISO 8601. */
  readonly oldestAt: string;
  readonly newestAt: string;
}

/** The current values of an escalated key on every replica, read now (never a stored copy). */
export interface EscalationValues {
  readonly id: string;
  readonly dataset: string;
  readonly key: readonly unknown[];
  /** The compared columns, in the order `values` lists them. */
  readonly columns: readonly string[];
  /** "diverged": the replicas still differ; "agree": they agree now (nothing left to resolve). */
  readonly state: "diverged" | "agree";
  /** True when some replica holds something else than when it was escalated (a pick would write nothing). */
  readonly changed: boolean;
  /** The compared columns whose values differ now. */
  readonly differing: readonly string[];
  /** Per replica: absent, or its canonical values by column (and its version, if the dataset has one). */
  readonly replicas: Readonly<
    Record<
      string,
      {
        readonly present: boolean;
        readonly values: Readonly<Record<string, CanonicalValue>> | null;
        readonly version: unknown;
      }
    >
  >;
}

/** Typed key values as JSON output shows them, from a stored divergence's or escalation's detail. */
export function keyJsonOf(key: Key, detail: unknown): unknown[] {
  const recorded = (detail as { keyJson?: unknown } | null)?.keyJson;
  if (Array.isArray(recorded)) return recorded;
  return key.map((k) => (k !== null && /^-?\d+$/.test(k) && Number.isSafeInteger(Number(k)) ? Number(k) : k));
}

/** The id of a dataset's pattern group: the first 12 hex digits of SHA-256 over dataset and pattern. */
export function groupId(dataset: string, pattern: string): string {
  return createHash("sha256").update(`${dataset}\n${pattern}`).digest("hex").slice(0, 12);
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function observedOf(detail: unknown): Record<string, ObservedView> {
  const observed = (detail as { observed?: Record<string, string | null> } | null)?.observed ?? {};
  return Object.fromEntries(
    Object.entries(observed).map(([r, fp]) => [r, { present: fp !== null, fingerprint: fp ?? null }]),
  );
}

/** An escalation as `concord escalations list --json` and `GET /api/escalations` show it. */
export function escalationView(e: Escalation): EscalationView {
  const resolution = (e.resolution ?? null) as { by?: unknown; pick?: unknown; note?: unknown } | null;
  const text = (v: unknown): string | null => (typeof v === "string" ? v : null);
  const replicas = observedOf(e.detail);
  return {
    id: e.id,
    dataset: e.dataset,
    key: keyJsonOf(e.key, e.detail),
    class: e.class,
    reason: e.reason,
    options: e.options,
    status: e.status,
    runId: e.runId,
    createdAt: new Date(e.createdAt).toISOString(),
    columns: e.columns ?? [],
    absent: e.absent ?? Object.keys(replicas).filter((r) => !replicas[r]!.present && e.key.length > 0),
    replicas,
    group: groupId(e.dataset, escalationPattern(e)),
    resolvedAt: e.status === "open" ? null : iso(e.resolvedAt),
    resolvedBy: text(resolution?.by),
    pick: text(resolution?.pick),
    note: text(resolution?.note),
  };
}

/** How a group's pattern reads: "absent on b", "differs in name, note", both, or "pattern not recorded". */
export function describePattern(g: Pick<EscalationGroup, "class" | "columns" | "absent">): string {
  if (g.columns === undefined) return "pattern not recorded";
  if (g.class === "schema") return g.columns.length ? `column ${g.columns.join(", ")}` : "schema";
  if (g.class === "guard") return "blast-radius guard";
  const parts: string[] = [];
  if (g.absent?.length) parts.push(`absent on ${g.absent.join(", ")}`);
  if (g.columns.length) parts.push(`differs in ${g.columns.join(", ")}`);
  return parts.join("; ") || "differs";
}

export function groupView(g: EscalationGroup): EscalationGroupView {
  return {
    id: groupId(g.dataset, g.pattern),
    dataset: g.dataset,
    class: g.class,
    columns: g.columns ?? [],
    absent: g.absent ?? [],
    description: describePattern(g),
    count: g.count,
    first: g.first,
    oldestAt: new Date(g.oldestAt).toISOString(),
    newestAt: new Date(g.newestAt).toISOString(),
  };
}

/**
 * The store filter of a group id: its dataset and pattern, found among the groups of escalations with
 * `status` (any status when undefined). Undefined when no such group has an escalation.
 */
export async function groupFilter(
  state: Pick<StateStore, "groupEscalations">,
  id: string,
  status?: Escalation["status"] | undefined,
): Promise<{ dataset: string; pattern: string } | undefined> {
  for (const g of await state.groupEscalations({ status }))
    if (groupId(g.dataset, g.pattern) === id) return { dataset: g.dataset, pattern: g.pattern };
  return undefined;
}

/** What reading current values needs: the datasets, their replicas (opened by the caller) and a clock. */
export interface ObserveDeps {
  readonly datasets: readonly DatasetConfig[];
  readonly replicas: (ds: DatasetConfig) => Promise<readonly OpenReplica[]>;
  readonly now: () => number;
}

/**
 * Reads the current values of the escalations' keys on every replica, one `observeKeys` per dataset (so a
 * page costs one read per replica, not one per escalation). Keyless escalations (schema, guard) and those of
 * a dataset the config no longer declares are left out of the result.
 */
export async function observeEscalations(
  list: readonly Escalation[],
  deps: ObserveDeps,
): Promise<Map<string, EscalationValues>> {
  const out = new Map<string, EscalationValues>();
  const byDataset = new Map<string, Escalation[]>();
  for (const e of list) {
    if (!e.key.length) continue;
    byDataset.set(e.dataset, [...(byDataset.get(e.dataset) ?? []), e]);
  }
  for (const [name, escalations] of byDataset) {
    const ds = deps.datasets.find((d) => d.name === name);
    if (!ds) continue;
    const replicas = await deps.replicas(ds);
    const keys = uniqueKeys(escalations.map((e) => e.key));
    const { resolved, divergences } = await observeKeys(ds, replicas, keys, deps.now());
    const columns = resolved.shape.columns.map((c) => c.name);
    for (const e of escalations) {
      const div = divergences.get(keyId(e.key));
      const observed = observedOf(e.detail);
      const replicaValues: Record<string, EscalationValues["replicas"][string]> = {};
      for (const r of replicas) {
        const o = div?.replicas[r.name];
        replicaValues[r.name] = {
          present: o?.present ?? true,
          values:
            o?.present && o.values
              ? Object.fromEntries(columns.map((c, i) => [c, o.values![i] ?? null]))
              : null,
          version: o?.present && o.version && Object.keys(o.version).length ? o.version : null,
        };
      }
      const changed = div
        ? Object.entries(observed).some(([r, was]) => {
            const now = div.replicas[r];
            return (now?.present ? (now.fingerprint ?? null) : null) !== was.fingerprint;
          })
        : true;
      out.set(e.id, {
        id: e.id,
        dataset: e.dataset,
        key: keyToJson(resolved.shape.key, e.key),
        columns,
        state: div ? "diverged" : "agree",
        changed,
        differing: div?.columns ?? [],
        replicas: div ? replicaValues : {},
      });
    }
  }
  return out;
}

function uniqueKeys(keys: readonly Key[]): Key[] {
  const seen = new Map<string, Key>();
  for (const k of keys) seen.set(keyId(k), k);
  return [...seen.values()];
}
