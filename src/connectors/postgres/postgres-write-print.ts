/** The statements a conditional write runs on PostgreSQL, as text with its values inlined (`repair --print`). Builds text only: no I/O. */
import { hasUnsafe, unsafeRuns } from "../../core/printable.js";
import type { ConditionalWrite } from "../connector.js";
import { nativeSql, quoteName } from "./postgres-canonical-sql.js";
import { byteaInput, PostgresShapeSql, T } from "./postgres-shape-sql.js";
import { postgresWriteValue } from "./postgres-write-values.js";

/**
 * A string literal (standard_conforming_strings, PostgreSQL's default since 9.1: only quotes are doubled).
 * Text holding a control, line-breaking or bidi character is an escape string instead (`E'a\u001Bb'`), the
 * character as its `\u` escape: the same value when run, one inert line when printed.
 */
function literal(text: string): string {
  if (!hasUnsafe(text)) return `'${text.replaceAll("'", "''")}'`;
  let out = "E'";
  for (const r of unsafeRuns(text))
    out +=
      "text" in r
        ? r.text.replaceAll("\\", "\\\\").replaceAll("'", "''")
        : `\\u${r.code.toString(16).toUpperCase().padStart(4, "0")}`;
  return `${out}'`;
}

/**
 * One statement per write, as `applyConditionalWrites` writes that key alone (it batches the same statements
 * over unnest arrays): an INSERT … ON CONFLICT DO NOTHING for a record expected absent; an UPDATE or DELETE
 * whose WHERE holds the key and, when PostgreSQL computes the shape's fingerprint, the fingerprint observed
 * (so the statement run by hand is still conditional); otherwise a comment says the engine checks it under
 * the row lock it takes first (SELECT … FOR UPDATE).
 */
export function printPostgresWrites(s: PostgresShapeSql, writes: readonly ConditionalWrite[]): string[] {
  const width = s.keys.length;
  const all = [...s.shape.key, ...s.shape.columns];
  // As the write sends it: the source's own text where `next` carries it (`nativeValueAt`).
  const value = (i: number, v: string | null, next: readonly (string | null)[]) => {
    if (v === null) return "NULL";
    const exact = i < width ? undefined : s.exactText(next, i - width);
    const text = exact ?? postgresWriteValue(s.native[i]!, all[i]!.type, v);
    return nativeSql(literal(text), s.native[i]!);
  };
  return writes.map((w) => {
    const keyMatch = s.keys
      .map((k, i) =>
        PostgresShapeSql.equals(
          k,
          `${literal(k.param === "bytea" ? String(byteaInput(w.key[i]!)) : w.key[i]!)}::${k.param}`,
        ),
      )
      .join(" AND ");
    if (w.expected === null) {
      if (w.next === null) return "-- nothing to write: the record is expected absent and stays absent";
      // Generated columns are the server's to compute; an identity key is written as the owner holds it.
      const named = all.flatMap((_, i) => (s.native[i]!.generated ? [] : [i]));
      const overriding = named.some((i) => s.native[i]!.identityAlways) ? " OVERRIDING SYSTEM VALUE" : "";
      const values = [...w.key, ...w.next];
      return (
        `INSERT INTO ${s.table} AS ${T} (${named.map((i) => quoteName(all[i]!.name)).join(", ")})${overriding} ` +
        `VALUES (${named.map((i) => value(i, values[i] ?? null, w.next!)).join(", ")}) ON CONFLICT DO NOTHING;`
      );
    }
    const guard = s.pushdown ? ` AND ${s.fingerprint()} = ${literal(w.expected)}` : "";
    const note = s.pushdown
      ? ""
      : `-- only if the row's fingerprint is still ${w.expected} (checked by concord under SELECT … FOR UPDATE)\n`;
    if (w.next === null) return `${note}DELETE FROM ${s.table} AS ${T} WHERE ${keyMatch}${guard};`;
    const sets = s.shape.columns.flatMap((c, i) => {
      const column = s.native[width + i]!;
      if (column.generated || column.identityAlways) return [];
      return [`${quoteName(c.name)} = ${value(width + i, w.next![i] ?? null, w.next!)}`];
    });
    if (sets.length === 0) return `-- nothing to write: the record has no columns besides its key`;
    return `${note}UPDATE ${s.table} AS ${T} SET ${sets.join(", ")} WHERE ${keyMatch}${guard};`;
  });
}
