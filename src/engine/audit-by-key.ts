/**
 * `audit show --key K`: which stored key texts K means, dataset by dataset. The audit stores a key as the
 * JSON of its canonical text parts (an integer without sign or leading zeros, bytes in lowercase hex), so
 * `07` names integer key 7 only once its column is known to be an integer: by the dataset's `types:` when
 * the config names the key column there, else by the typed key (`keyJson`) the audit recorded for it.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { AuditEntry } from "../core/audit-chain.js";
import type { ColumnType } from "../core/canonical.js";
import type { AuditFilter } from "../state/audit-log.js";
import type { StateStore } from "../state/state-store.js";

/** The canonical text of one key part for a column of this type; undefined when the column cannot hold it. */
function canonicalPart(part: string, type: ColumnType | undefined): string | undefined {
  if (type === "integer") return /^[+-]?\d+$/.test(part) ? BigInt(part).toString() : undefined;
  if (type === "bytes") return /^(?:[0-9a-fA-F]{2})*$/.test(part) ? part.toLowerCase() : undefined;
  return part;
}

/** A dataset's key as the config declares it: column names and the types `types:` names for them. */
export interface DeclaredKey {
  readonly columns: readonly string[];
  readonly types: Readonly<Record<string, ColumnType>>;
}

/** How the requested key reads for one dataset (or for entries of a dataset the config no longer names). */
interface KeyReading {
  /** The stored key text by the declared types, the undeclared parts as given. */
  readonly exact: string | undefined;
  /**
   * The stored key text were the undeclared parts integers (set only when that differs from `exact`), and
   * the positions that reading takes as integers: an entry of this text matches when its typed key
   * (`keyJson`) shows numbers there.
   */
  readonly asIntegers?: { readonly text: string; readonly positions: readonly number[] };
}

/** Where stored keys may match the requested one; `matches` then decides entry by entry. */
export interface AuditKeyMatch {
  /** Every stored key text to read the audit for. */
  readonly texts: readonly string[];
  /**
   * Whether an entry of this dataset and stored key is the requested key: true, false, or the key part
   * positions its typed key (`keyJson`) must show as numbers for it to be.
   */
  matches(dataset: string, key: string): boolean | readonly number[];
}

const integerLike = (part: string) => /^[+-]?\d+$/.test(part);

function readingOf(parts: readonly (string | null)[], declared: DeclaredKey | undefined): KeyReading {
  if (declared && declared.columns.length !== parts.length) return { exact: undefined };
  const exact: (string | null)[] = [];
  const ints: (string | null)[] = [];
  const positions: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const column = declared?.columns[i];
    const type = column === undefined ? undefined : declared?.types[column];
    if (part === null) {
      exact.push(null);
      ints.push(null);
      continue;
    }
    if (type !== undefined) {
      const text = canonicalPart(part, type);
      if (text === undefined) return { exact: undefined };
      exact.push(text);
      ints.push(text);
      continue;
    }
    exact.push(part);
    if (integerLike(part) && BigInt(part).toString() !== part) {
      ints.push(BigInt(part).toString());
      positions.push(i);
    } else ints.push(part);
  }
  const text = JSON.stringify(exact);
  return positions.length
    ? { exact: text, asIntegers: { text: JSON.stringify(ints), positions } }
    : { exact: text };
}

/** `parts`: the requested key's parts as given (null for a NULL part); `datasets`: the config's. */
export function auditKeyMatch(
  parts: readonly (string | null)[],
  datasets: ReadonlyMap<string, DeclaredKey>,
): AuditKeyMatch {
  const undeclared = readingOf(parts, undefined);
  const readings = new Map<string, KeyReading>();
  for (const [name, declared] of datasets) readings.set(name, readingOf(parts, declared));
  const texts = new Set<string>();
  for (const r of [undeclared, ...readings.values()]) {
    if (r.exact !== undefined) texts.add(r.exact);
    if (r.asIntegers) texts.add(r.asIntegers.text);
  }
  return {
    texts: [...texts],
    matches(dataset, key) {
      const r = readings.get(dataset) ?? undeclared;
      if (key === r.exact) return true;
      return r.asIntegers !== undefined && key === r.asIntegers.text ? r.asIntegers.positions : false;
    },
  };
}

/**
 * The entries of the key `parts` names (each dataset's key column types decide which stored key that is:
 * `auditKeyMatch`), within `filter`: the first `filter.limit` of them, or with `newest` the last, in seq order.
 */
export async function readAuditByKey(
  state: Pick<StateStore, "readAudit">,
  datasets: readonly DatasetConfig[],
  parts: readonly (string | null)[],
  filter: AuditFilter,
  newest: boolean,
): Promise<AuditEntry[]> {
  const declared = new Map(datasets.map((ds) => [ds.name, { columns: ds.key, types: ds.types }] as const));
  const match = auditKeyMatch(parts, declared);
  const bySeq = new Map<number, AuditEntry>();
  for (const key of match.texts)
    for (const e of await state.readAudit({ ...filter, key })) bySeq.set(e.seq, e);
  const read = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  // A typed key recorded for a dataset and key (a detected entry records one) types its other entries too.
  const typed = new Map<string, unknown[]>();
  const typedOf = async (e: AuditEntry): Promise<unknown[] | undefined> => {
    const own = (e.data as { keyJson?: unknown } | null)?.keyJson;
    if (Array.isArray(own)) return own;
    const known = `${e.dataset}\n${e.key}`;
    if (!typed.has(known) && e.key !== null) {
      const recorded = (await state.readAudit({ key: e.key, limit: 100 })).find(
        (o) => o.dataset === e.dataset && Array.isArray((o.data as { keyJson?: unknown } | null)?.keyJson),
      );
      typed.set(known, (recorded?.data as { keyJson: unknown[] } | undefined)?.keyJson ?? []);
    }
    const found = typed.get(known);
    return found?.length ? found : undefined;
  };
  const kept: AuditEntry[] = [];
  for (const e of read) {
    const verdict = e.key === null ? false : match.matches(e.dataset ?? "", e.key);
    if (verdict === true) kept.push(e);
    else if (verdict !== false) {
      const keyJson = await typedOf(e);
      if (keyJson && verdict.every((i) => typeof keyJson[i] === "number")) kept.push(e);
    }
  }
  const cap = filter.limit ?? kept.length;
  return newest ? kept.slice(-cap) : kept.slice(0, cap);
}
