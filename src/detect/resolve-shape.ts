/** Builds a dataset's RecordShape from its config and each replica's columns, and finds schema divergence. Pure. */
import type { DatasetConfig } from "../config/load-config.js";
import { ConfigError } from "../config/load-config.js";
import type { ColumnInfo, TableDescription } from "../connectors/connector.js";
import type { ColumnType } from "../core/canonical.js";
import type { ClassifyRules, Tolerance } from "../core/classify.js";
import type { ColumnSpec, RecordShape } from "../core/model.js";
import { versionOrdering } from "../core/policy.js";

/** A difference in columns or types between replicas. */
export interface SchemaIssue {
  readonly column: string;
  readonly detail: string;
}

export interface ResolvedShape {
  readonly shape: RecordShape;
  readonly rules: ClassifyRules;
  /** Positions of the version columns within `shape.columns`. */
  readonly versionPositions: { counter?: number; timestamp?: number; vector?: number };
  readonly issues: readonly SchemaIssue[];
  /**
   * Columns compared, but not exactly alike in every store, one line each naming the column: the
   * differences they can show that are the stores' and not the data's (and, from `describeDataset`, what
   * pushdown a connector cannot do).
   */
  readonly notes: readonly string[];
  /**
   * Set by the engine's `describeDataset`: a hash of every replica's table description and of this
   * resolution, equal exactly when a fresh describe would find the same (workers keep a description by it).
   */
  readonly fingerprint?: string | undefined;
}

const NUMERIC: readonly ColumnType[] = ["integer", "decimal", "float", "float32"];

/**
 * The one logical type several replicas' types can be compared as, or undefined when they cannot:
 * integer/decimal → decimal, floats only → float (float32 only when every replica keeps float32: a float32
 * beside a double is compared as the double it holds exactly), floats beside integers or decimals → decimal
 * (a float read as the decimal its shortest round-trip text spells, so a double equals an exact number only
 * when it is that number: 9007199254740993 is no double, 0.1 is), integer/boolean → boolean
 * (SQLite stores booleans as integers), text with timestamp, time or json → the specific type (stores
 * without such types keep text).
 */
export function unifyTypes(types: readonly ColumnType[]): ColumnType | undefined {
  const set = new Set(types);
  if (set.size === 1) return types[0];
  const has = (t: ColumnType) => set.has(t);
  const only = (...allowed: ColumnType[]) => [...set].every((t) => allowed.includes(t));
  if (only(...NUMERIC)) return has("integer") || has("decimal") ? "decimal" : "float";
  if (only("integer", "boolean")) return "boolean";
  if (only("text", "timestamp")) return "timestamp";
  if (only("text", "time")) return "time";
  if (only("text", "json")) return "json";
  return undefined;
}

/**
 * Why a column that is spatial on some replica (`ColumnInfo.spatial`) cannot be compared, as a clause to
 * append to the schema issue ("" when none is): the form each replica keeps it in, and that Concord converts
 * no shape between forms (PostgreSQL's `(1,2)` is no SRID-and-WKB bytes, and the other way round).
 */
function spatialWhy(infos: readonly (readonly [string, ColumnInfo])[]): string {
  if (!infos.some(([, c]) => c.spatial)) return "";
  const form = ([replica, c]: readonly [string, ColumnInfo]) =>
    c.spatial === "text"
      ? `PostgreSQL's text ("(1,2)") on ${replica}`
      : c.spatial === "wkb"
        ? `bytes (an SRID, then WKB, as MariaDB/MySQL keep it) on ${replica}`
        : `${c.type} on ${replica}`;
  return ` (a shape is ${infos.map(form).join(", ")}; Concord converts no shape from one form to another, so the column is not compared)`;
}

/**
 * Resolves the shape: key columns as declared; compared columns as declared, or every non-key column
 * any replica has (sorted by name, so store column order does not matter); version columns always
 * included. Columns missing from a replica or with incomparable types are left out of the comparison and
 * reported as issues. Throws ConfigError when the config names a column that no replica has.
 */
export function resolveShape(
  ds: DatasetConfig,
  descriptions: ReadonlyMap<string, TableDescription>,
): ResolvedShape {
  const where = `datasets.${ds.name}`;
  const byReplica = new Map<string, Map<string, ColumnInfo>>();
  const storeOf = new Map<string, string>();
  const schemaless: string[] = [];
  for (const [replica, d] of descriptions) {
    if (d.schemaless) {
      schemaless.push(replica);
      continue;
    }
    byReplica.set(replica, new Map(d.columns.map((c) => [c.name, c])));
    storeOf.set(replica, d.store ?? "the store");
  }
  const everywhere = new Set<string>();
  for (const cols of byReplica.values()) for (const c of cols.keys()) everywhere.add(c);
  if (byReplica.size === 0) {
    // Every replica is schemaless: the config alone says what a record holds.
    if (!ds.columns)
      throw new ConfigError(
        `${where}.columns: required when no replica has a schema (${schemaless.join(", ")})`,
      );
    for (const c of [...ds.key, ...ds.columns, ...Object.values(ds.versions)]) if (c) everywhere.add(c);
  }

  const versionCols = [ds.versions.counter, ds.versions.timestamp, ds.versions.vector].filter(
    (c): c is string => !!c,
  );
  for (const [field, col] of Object.entries(ds.versions)) {
    if (col && !everywhere.has(col))
      throw new ConfigError(`${where}.versions.${field}: no replica has a column "${col}"`);
    if (col && ds.key.includes(col))
      throw new ConfigError(`${where}.versions.${field}: "${col}" is a key column`);
  }
  for (const col of ds.columns ?? []) {
    if (!everywhere.has(col)) throw new ConfigError(`${where}.columns: no replica has a column "${col}"`);
  }
  for (const col of Object.keys(ds.types)) {
    if (!everywhere.has(col))
      throw new ConfigError(`${where}.types.${col}: no replica has a column "${col}"`);
  }

  const issues: SchemaIssue[] = [];
  const typeOf = (col: string): ColumnType | undefined => {
    const declared = ds.types[col];
    const seen: ColumnType[] = [];
    const missing: string[] = [];
    for (const [replica, cols] of byReplica) {
      const c = cols.get(col);
      if (c === undefined) missing.push(replica);
      else if (c.typed !== false) seen.push(c.type);
    }
    if (missing.length > 0) {
      issues.push({ column: col, detail: `column ${col} is missing on ${missing.join(", ")}` });
      return undefined;
    }
    if (declared) return declared;
    // Only schemaless or untyped stores hold the column: nothing says more than text.
    if (seen.length === 0) return "text";
    const unified = unifyTypes(seen);
    if (!unified) {
      const infos = [...byReplica].map(([replica, m]) => [replica, m.get(col)!] as const);
      // One type name in two stores (MariaDB's BIT(8) is a number, PostgreSQL's bit(8) a string of bits):
      // the names alone would read as one type, so each says what Concord reads it as.
      const names = new Set(infos.map(([, c]) => c.nativeType.toLowerCase()));
      const natives = infos
        .map(([replica, c]) =>
          names.size < infos.length
            ? `${c.nativeType} (${c.type}) on ${replica}`
            : `${c.nativeType} on ${replica}`,
        )
        .join(", ");
      const why = spatialWhy(infos);
      issues.push({ column: col, detail: `column ${col} has incompatible types: ${natives}${why}` });
    }
    return unified;
  };

  const key: ColumnSpec[] = [];
  for (const col of ds.key) {
    const t = typeOf(col);
    if (t === undefined) {
      throw new ConfigError(
        `${where}.key: key column "${col}" cannot be compared (${issues.at(-1)?.detail ?? "unknown type"})`,
      );
    }
    if (t !== "integer" && t !== "text" && t !== "bytes") {
      throw new ConfigError(
        `${where}.key: key column "${col}" is ${t}; key columns must be integer, text or bytes`,
      );
    }
    key.push({ name: col, type: t });
  }

  const wanted = ds.columns
    ? [...ds.columns, ...versionCols.filter((c) => !ds.columns!.includes(c))]
    : [...everywhere].filter((c) => !ds.key.includes(c)).sort();
  const columns: ColumnSpec[] = [];
  for (const col of wanted) {
    const t = typeOf(col);
    if (t !== undefined) columns.push({ name: col, type: t });
  }

  const pos = (col: string | undefined) => {
    if (!col) return undefined;
    const i = columns.findIndex((c) => c.name === col);
    return i < 0 ? undefined : i;
  };
  const versionPositions = {
    ...(pos(ds.versions.counter) !== undefined ? { counter: pos(ds.versions.counter)! } : {}),
    ...(pos(ds.versions.timestamp) !== undefined ? { timestamp: pos(ds.versions.timestamp)! } : {}),
    ...(pos(ds.versions.vector) !== undefined ? { vector: pos(ds.versions.vector)! } : {}),
  };
  if (
    ds.versions.timestamp &&
    versionPositions.timestamp !== undefined &&
    columns[versionPositions.timestamp]!.type !== "timestamp"
  ) {
    throw new ConfigError(
      `${where}.versions.timestamp: column "${ds.versions.timestamp}" is not a timestamp (declare it in types:)`,
    );
  }
  // A counter is compared as an integer and a vector read as a JSON object: say so here, not per row.
  for (const [field, allowed] of [
    ["counter", ["integer"]],
    ["vector", ["json", "text"]],
  ] as const) {
    const at = versionPositions[field];
    const type = at === undefined ? undefined : columns[at]!.type;
    if (type !== undefined && !(allowed as readonly string[]).includes(type))
      throw new ConfigError(
        `${where}.versions.${field}: column "${ds.versions[field]}" is ${type}; a ${field} needs ${field === "counter" ? "an integer column (declare it in types: when the store keeps it as text)" : "a JSON object column"}`,
      );
  }

  const tolerance = new Map<string, Tolerance>();
  for (const [col, t] of Object.entries(ds.policy.tolerance)) {
    const spec = columns.find((c) => c.name === col);
    if (!spec) throw new ConfigError(`${where}.policy.tolerance.${col}: "${col}" is not a compared column`);
    if (t.kind === "numeric") {
      if (!NUMERIC.includes(spec.type)) {
        throw new ConfigError(
          `${where}.policy.tolerance.${col}: a numeric tolerance needs a numeric column, "${col}" is ${spec.type}`,
        );
      }
      tolerance.set(col, { kind: "numeric", bound: t.bound });
    } else {
      if (spec.type !== "timestamp") {
        throw new ConfigError(
          `${where}.policy.tolerance.${col}: a duration tolerance needs a timestamp column, "${col}" is ${spec.type}`,
        );
      }
      tolerance.set(col, { kind: "duration", micros: BigInt(Math.round(t.ms * 1000)) });
    }
  }

  const versioned = Object.keys(versionPositions).length > 0;
  return {
    shape: { key, columns },
    versionPositions,
    issues,
    notes: comparabilityNotes(ds, columns, byReplica, storeOf),
    rules: {
      tolerance,
      windowMs: ds.policy.windowMs,
      timestampColumn: versionPositions.timestamp,
      versioned,
      ordering: versionOrdering(ds.policy.resolve, versionPositions),
    },
  };
}

/** Numbers a column keeps exactly (integers, fixed-point decimals): the contract's default by logical type. */
function keepsExactNumbers(c: ColumnInfo): boolean {
  return c.exactNumber ?? (c.type === "integer" || c.type === "decimal");
}

/**
 * Where a compared column's stores cannot hold the same values exactly: exact numbers compared as floats,
 * a floating-point DECIMAL (SQLite's) beside an exact one, timestamps kept at different precisions. Judged
 * from what each connector's `describe` says of the column; native type names only appear in the notes.
 */
function comparabilityNotes(
  ds: DatasetConfig,
  columns: readonly ColumnSpec[],
  byReplica: ReadonlyMap<string, ReadonlyMap<string, ColumnInfo>>,
  storeOf: ReadonlyMap<string, string>,
): string[] {
  const notes: string[] = [];
  for (const key of ds.key) {
    const lenient = [...byReplica]
      .map(([replica, m]) => ({ replica, info: m.get(key) }))
      .filter((n) => n.info?.type === "text" && n.info.lenientCollation !== undefined);
    if (lenient.length > 0)
      notes.push(
        `key column ${key} compares text under ${lenient.map((n) => `${n.info!.lenientCollation} on ${n.replica}`).join(", ")}: keys that differ only in what it ignores (case, accents, trailing spaces) are one key there, so only one of them can be written to it`,
      );
  }
  for (const col of columns) {
    const natives = [...byReplica]
      .map(([replica, m]) => ({ replica, info: m.get(col.name) }))
      .filter(
        (n): n is { replica: string; info: ColumnInfo } => n.info !== undefined && n.info.typed !== false,
      );
    if (natives.length < 2) continue;
    const list = natives.map((n) => `${n.info.nativeType} on ${n.replica}`).join(", ");
    const float32 = natives.filter((n) => n.info.type === "float32");
    if (col.type === "float" && float32.length > 0 && float32.length < natives.length) {
      notes.push(
        `column ${col.name} is compared as a 64-bit float (${list}): ${float32.map((n) => n.replica).join(", ")} keep${float32.length === 1 ? "s" : ""} 32-bit floats, which hold few other values exactly (0.1 is 0.10000000149011612 there); declare types: { ${col.name}: float32 } to compare at 32-bit precision`,
      );
    }
    const floats = natives.filter((n) => n.info.type === "float" || n.info.type === "float32");
    if (col.type === "decimal" && floats.length > 0 && !ds.types[col.name]) {
      const singles = floats.filter((n) => n.info.type === "float32").map((n) => n.replica);
      const single = singles.length
        ? `; ${singles.join(", ")} keep${singles.length === 1 ? "s" : ""} 32-bit floats, read as the doubles they are (0.1 is 0.10000000149011612 there)`
        : "";
      notes.push(
        `column ${col.name} is compared as an exact decimal (${list}): a float equals a decimal only when its shortest text is that decimal (0.1 is, 0.1000000000000000000001 and 9007199254740993 are no double)${single}; declare types: { ${col.name}: float } to compare as doubles`,
      );
    }
    if (col.type === "decimal" && !ds.types[col.name]) {
      const floating = natives.filter((n) => n.info.type === "decimal" && !keepsExactNumbers(n.info));
      if (floating.length && floating.length < natives.length) {
        const first = floating[0]!;
        notes.push(
          `column ${col.name}: ${storeOf.get(first.replica)} keeps ${first.info.nativeType} as floating point on ${floating.map((n) => n.replica).join(", ")} (about 15 significant digits); longer decimals will differ`,
        );
      }
    }
    if (col.type === "json") {
      const doubles = natives.filter((n) => n.info.type === "json" && n.info.exactNumber === false);
      if (doubles.length && doubles.length < natives.length)
        notes.push(
          `column ${col.name}: ${doubles.map((n) => `${n.info.nativeType} on ${n.replica}`).join(", ")} keeps JSON numbers as 64-bit integers and doubles; documents with longer numbers differ there and cannot be written to it`,
        );
    }
    if (col.type === "timestamp" || col.type === "time") {
      const digits = natives.filter(
        (n): n is typeof n & { info: { fractionalDigits: number } } => n.info.fractionalDigits !== undefined,
      );
      if (new Set(digits.map((d) => d.info.fractionalDigits)).size > 1)
        notes.push(
          `column ${col.name} is kept at different precisions (${digits.map((d) => `${d.info.nativeType} on ${d.replica}: ${d.info.fractionalDigits} fractional digits`).join(", ")}): differences below the coarsest are reported as divergence`,
        );
    }
  }
  return notes;
}
