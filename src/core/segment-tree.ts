/** Merkle trees over segment checksums: shape, node hashes, path updates and descent steps. Pure: hashing only, no I/O. */
import { hash } from "node:crypto";
import type { RangeChecksum } from "./fingerprint.js";

/**
 * A node of a binary tree over `leaves` segment checksums: level 0 holds the leaves (segment i at index i),
 * and node (level + 1, i) covers nodes (level, 2i) and (level, 2i + 1). The root is (treeHeight, 0).
 */
export interface TreeNodeId {
  readonly level: number;
  readonly index: number;
}

/** A node's hash to store: undefined when some leaf under it is unknown (never hashed, or stale). */
export interface TreeNodeWrite extends TreeNodeId {
  readonly hash: string | undefined;
}

/** The root's level: 0 for one leaf, ceil(log2(leaves)) otherwise. */
export function treeHeight(leaves: number): number {
  let h = 0;
  while (2 ** h < leaves) h++;
  return h;
}

/** How many nodes a level holds. */
export function levelWidth(leaves: number, level: number): number {
  return Math.ceil(leaves / 2 ** level);
}

/** A leaf: the segment's range checksum (row count and XOR of fingerprints), equal on equal rows in every store. */
export function leafHash(checksum: RangeChecksum): string {
  return `${checksum.count}:${checksum.xor}`;
}

/**
 * An inner node over its children (`right` undefined when the level has no right child there). 128 bits of
 * SHA-256: a change detector over checksums that are themselves 64-bit, not a security boundary.
 */
export function parentHash(left: string, right: string | undefined): string {
  return hash("sha256", `${left}|${right ?? "-"}`, "hex").slice(0, 32);
}

/**
 * The siblings that recomputing the paths of `segments` needs and that are not themselves on a path: what
 * an update reads from storage, O(k log n) for k segments.
 */
export function siblingsToRead(leaves: number, segments: Iterable<number>): TreeNodeId[] {
  const out: TreeNodeId[] = [];
  let current = new Set<number>();
  for (const s of segments) if (s >= 0 && s < leaves) current.add(s);
  const height = treeHeight(leaves);
  for (let level = 0; level < height; level++) {
    const width = levelWidth(leaves, level);
    const parents = new Set<number>();
    for (const i of current) {
      const sibling = i ^ 1;
      if (sibling < width && !current.has(sibling)) out.push({ level, index: sibling });
      parents.add(i >> 1);
    }
    current = parents;
  }
  return out;
}

/**
 * The new hash of every node on the paths from the `changed` leaves to the root, bottom up: a parent is
 * known when both its children are (or it has only a left child), otherwise undefined. `stored` answers for
 * the siblings `siblingsToRead` named (undefined: unknown or never stored). Leaves outside the tree are
 * ignored.
 */
export function updatePaths(
  leaves: number,
  changed: ReadonlyMap<number, string | undefined>,
  stored: (level: number, index: number) => string | undefined,
): TreeNodeWrite[] {
  const out: TreeNodeWrite[] = [];
  let current = new Map<number, string | undefined>();
  for (const [s, h] of changed) if (s >= 0 && s < leaves) current.set(s, h);
  const height = treeHeight(leaves);
  for (let level = 0; ; level++) {
    for (const [index, h] of [...current].sort((a, b) => a[0] - b[0])) out.push({ level, index, hash: h });
    if (level === height) return out;
    const width = levelWidth(leaves, level);
    const parents = new Map<number, string | undefined>();
    for (const i of current.keys()) {
      const p = i >> 1;
      if (parents.has(p)) continue;
      const at = (j: number) => (current.has(j) ? current.get(j) : stored(level, j));
      const left = at(2 * p);
      const hasRight = 2 * p + 1 < width;
      const right = hasRight ? at(2 * p + 1) : undefined;
      parents.set(
        p,
        left === undefined || (hasRight && right === undefined) ? undefined : parentHash(left, right),
      );
    }
    current = parents;
  }
}

/** Every node on the paths from `segments` to the root: what a leaf turning stale makes stale. */
export function pathsOf(leaves: number, segments: Iterable<number>): TreeNodeId[] {
  const out: TreeNodeId[] = [];
  let current = new Set<number>();
  for (const s of segments) if (s >= 0 && s < leaves) current.add(s);
  const height = treeHeight(leaves);
  for (let level = 0; level <= height; level++) {
    for (const index of [...current].sort((a, b) => a - b)) out.push({ level, index });
    const parents = new Set<number>();
    for (const i of current) parents.add(i >> 1);
    current = parents;
  }
  return out;
}

/** One node as every replica's tree holds it (undefined: unknown in that tree). */
export interface ComparedNode {
  readonly index: number;
  readonly hashes: readonly (string | undefined)[];
}

/** What one level of a descent found. */
export interface DescentStep {
  /** Nodes every tree knows and that are not all equal. */
  readonly differ: number[];
  /** Nodes some tree does not know (nothing can be said of them from the hashes). */
  readonly unknown: number[];
}

/**
 * One step of a descent: of the nodes compared at a level, those known everywhere and equal are settled
 * (every leaf under them agrees on every replica); the others are split into differing and unknown.
 */
export function compareNodes(nodes: readonly ComparedNode[]): DescentStep {
  const differ: number[] = [];
  const unknown: number[] = [];
  for (const n of nodes) {
    if (n.hashes.some((h) => h === undefined)) unknown.push(n.index);
    else if (n.hashes.some((h) => h !== n.hashes[0])) differ.push(n.index);
  }
  return { differ, unknown };
}

/** The children at `level - 1` of `indexes` at `level` that exist in a tree of `leaves` leaves, ascending. */
export function childrenOf(leaves: number, level: number, indexes: readonly number[]): number[] {
  const width = levelWidth(leaves, level - 1);
  const out: number[] = [];
  for (const i of [...indexes].sort((a, b) => a - b)) {
    if (2 * i < width) out.push(2 * i);
    if (2 * i + 1 < width) out.push(2 * i + 1);
  }
  return out;
}
