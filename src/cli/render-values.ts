/** Records side by side, one column per replica, for the readable reports. Values are printed inert. */
import type { CanonicalValue } from "../core/canonical.js";
import { printable } from "../core/printable.js";
import { clip, textTable } from "./text-table.js";

/** What one replica holds: absent, or its canonical values by column. */
export type HeldRecord =
  | { readonly present: false }
  | { readonly present: true; readonly values: (column: string) => CanonicalValue | undefined };

/**
 * A COLUMN × replica table of `columns` (those in `differing` marked with `*`): canonical text clipped to
 * 40 characters and made printable, NULL for null, "" for the empty string, (absent) for a replica without
 * the record, ? for a value not read.
 */
export function sideBySide(
  columns: readonly string[],
  held: Readonly<Record<string, HeldRecord>>,
  differing: readonly string[],
  indent: string,
): string {
  const replicas = Object.keys(held);
  const cell = (r: string, c: string): string => {
    const h = held[r]!;
    if (!h.present) return "(absent)";
    const value = h.values(c);
    if (value === undefined) return "?";
    if (value === null) return "NULL";
    return value === "" ? '""' : printable(clip(value, 40));
  };
  const rows = columns.map((c) => [
    `${printable(c)}${differing.includes(c) ? " *" : ""}`,
    ...replicas.map((r) => cell(r, c)),
  ]);
  return textTable([["COLUMN", ...replicas.map(printable)], ...rows], indent);
}

/** The columns worth showing: the differing ones, or every one when a replica lacks the record. */
export function shownColumns(
  columns: readonly string[],
  held: Readonly<Record<string, HeldRecord>>,
  differing: readonly string[],
): readonly string[] {
  return Object.values(held).some((h) => !h.present) || differing.length === 0 ? columns : differing;
}
