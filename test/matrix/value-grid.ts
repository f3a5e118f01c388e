/** The grid of one direction of the value matrix: its columns (type pairs) and rows (see matrix.ts). Tests only. */
import { FAMILIES } from "./families.js";
import type { MatrixColumnType, MatrixFamily, MatrixRow, MatrixStore, MatrixValue } from "./matrix.js";

/** One column of a direction's tables: a family's source type beside one of its target types. */
export interface GridColumn {
  readonly name: string;
  readonly family: MatrixFamily;
  readonly s: MatrixColumnType;
  readonly d: MatrixColumnType;
  /** The values both types hold. */
  readonly shared: readonly MatrixValue[];
  /** The values only the source type holds: a repair must refuse them. */
  readonly refused: readonly MatrixValue[];
  /** Spellings (source, canonical on the target) of shared values. */
  readonly spellings: readonly { value: MatrixValue; text: string }[];
}

/** What a row tests: equal values, a spelling of an equal value, different values, or a refused repair. */
export type Kind = "equal" | "spelling" | "different" | "refused";

/** One cell of a row: what each side holds (null: NULL), as a value and the text its store is handed. */
export interface Cell {
  readonly s: { value: MatrixValue; text: string } | null;
  readonly d: { value: MatrixValue; text: string } | null;
}

/** A row of a direction's tables: its key, what it tests, and its cells. */
export interface GridRow {
  readonly key: number;
  readonly kind: Kind;
  /** Cells by column index; columns not listed are NULL on both sides. */
  readonly cells: Map<number, Cell>;
}

const holds = (t: MatrixColumnType, value: MatrixValue) => t.holds?.(value) ?? true;

/** The known-gap reason for a type or value of `store`, if it declares one. */
function knownGap(store: MatrixStore, family: string, type: MatrixColumnType, value?: MatrixValue) {
  const k = store.known ?? {};
  if (k[`${family}:${type.ddl}`]) return k[`${family}:${type.ddl}`];
  if (!value) return undefined;
  return k[`${family}:${value.id}`] ?? k[`${family}:${type.ddl}:${value.id}`];
}

/** The columns of a direction: every source type of a family beside every target type of it. */
export function gridColumns(s: MatrixStore, d: MatrixStore, skipped: string[]): GridColumn[] {
  const out: GridColumn[] = [];
  for (const family of FAMILIES) {
    const sTypes = s.types.filter((t) => t.family === family.name);
    const dTypes = d.types.filter((t) => t.family === family.name);
    let n = 0;
    for (const st of sTypes) {
      for (const dt of dTypes) {
        const gap = knownGap(s, family.name, st) ?? knownGap(d, family.name, dt);
        const label = `${family.name} ${s.name} ${st.ddl} → ${d.name} ${dt.ddl}`;
        if (gap) {
          skipped.push(`${label}: ${gap}`);
          continue;
        }
        const usable = (value: MatrixValue) => {
          const g = knownGap(s, family.name, st, value) ?? knownGap(d, family.name, dt, value);
          if (g) skipped.push(`${label} ${value.id}: ${g}`);
          return !g;
        };
        const values = family.values.filter((value) => holds(st, value) && usable(value));
        const shared = values.filter((value) => holds(dt, value));
        const spellings = shared.flatMap((value) =>
          (value.spellings ?? [])
            .filter((text) => st.spells?.(text, value) ?? false)
            .map((text) => ({ value, text })),
        );
        out.push({
          name: `${family.name}_${n++}`.replaceAll("-", "_"),
          family,
          s: st,
          d: dt,
          shared,
          refused: values.filter((value) => !holds(dt, value)),
          spellings,
        });
      }
    }
  }
  return out;
}

/** The rows of a direction (see the layout in matrix.ts). */
export function gridRows(columns: readonly GridColumn[]): GridRow[] {
  const rows: GridRow[] = [];
  let key = 1;
  const packed = (kind: Kind, cellOf: (c: GridColumn, j: number) => Cell | undefined) => {
    for (let j = 0; ; j++) {
      const cells = new Map<number, Cell>();
      columns.forEach((c, i) => {
        const cell = cellOf(c, j);
        if (cell) cells.set(i, cell);
      });
      if (cells.size === 0) return;
      rows.push({ key: key++, kind, cells });
    }
  };
  const canonical = (value: MatrixValue) => ({ value, text: value.canonical });
  packed("equal", (c, j) =>
    j < c.shared.length ? { s: canonical(c.shared[j]!), d: canonical(c.shared[j]!) } : undefined,
  );
  packed("spelling", (c, j) => {
    const sp = c.spellings[j];
    return sp ? { s: sp, d: canonical(sp.value) } : undefined;
  });
  packed("different", (c, j) => {
    const n = c.shared.length;
    if (n < 2) return undefined;
    if (j < n) return { s: canonical(c.shared[j]!), d: canonical(c.shared[(j + 1) % n]!) };
    // Then NULL against a value, both ways.
    if (j === n) return { s: null, d: canonical(c.shared[0]!) };
    if (j === n + 1) return { s: canonical(c.shared[0]!), d: null };
    return undefined;
  });
  columns.forEach((c, i) => {
    for (const value of c.refused) {
      const held = c.shared[0];
      rows.push({
        key: key++,
        kind: "refused",
        cells: new Map([[i, { s: { value, text: value.canonical }, d: held ? canonical(held) : null }]]),
      });
    }
  });
  return rows;
}

/** The rows as one side's store writes them: each cell encoded by that side's column type (NULL: undefined). */
export function nativeRows(
  rows: readonly GridRow[],
  columns: readonly GridColumn[],
  side: "s" | "d",
): MatrixRow[] {
  return rows.map((row) => ({
    key: BigInt(row.key),
    cells: columns.map((c, i) => {
      const held = row.cells.get(i)?.[side];
      if (!held) return undefined;
      const type = side === "s" ? c.s : c.d;
      return type.encode ? type.encode(held.text, held.value) : held.text;
    }),
  }));
}
