/** The SegmentTreeStore port on SQLite, and the tree upkeep the SQLite segment summaries share. */
import { pathsOf, siblingsToRead, treeHeight, updatePaths } from "../../core/segment-tree.js";
import type {
  SegmentLeaf,
  SegmentTreeHead,
  SegmentTreeNode,
  SegmentTreeStore,
} from "../segment-tree-store.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

interface HeadRow {
  replica: string;
  leaves: number;
  complete_at: number | null;
  hashed_at: number;
}

interface NodeRow {
  replica: string;
  level: number;
  idx: number;
  hash: string;
  hashed_at: number;
}

export class SqliteSegmentTreeStore implements SegmentTreeStore {
  constructor(private readonly s: SqliteStateDb) {}

  async putSegmentHashes(
    dataset: string,
    replica: string,
    leaves: number,
    hashes: readonly SegmentLeaf[],
    readAt: number,
  ): Promise<void> {
    const changed = new Map<number, string | undefined>();
    for (const h of hashes) if (h.segment >= 0 && h.segment < leaves) changed.set(h.segment, h.hash);
    if (!changed.size) return;
    const s = this.s;
    s.immediate(() => {
      const head = s
        .prepare("SELECT * FROM segment_trees WHERE dataset = ? AND replica = ?")
        .get(dataset, replica) as HeadRow | undefined;
      const same = head?.leaves === leaves;
      if (head && !same)
        s.prepare("DELETE FROM segment_tree_nodes WHERE dataset = ? AND replica = ?").run(dataset, replica);
      const get = s.prepare(
        "SELECT hash FROM segment_tree_nodes WHERE dataset = ? AND level = ? AND idx = ? AND replica = ?",
      );
      const stored = new Map<string, string>();
      if (same)
        for (const n of siblingsToRead(leaves, changed.keys())) {
          const row = get.get(dataset, n.level, n.index, replica) as { hash: string } | undefined;
          if (row) stored.set(`${n.level}:${n.index}`, row.hash);
        }
      const writes = updatePaths(leaves, changed, (level, index) => stored.get(`${level}:${index}`));
      const put = s.prepare(
        `INSERT INTO segment_tree_nodes (dataset, level, idx, replica, hash, hashed_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (dataset, level, idx, replica) DO UPDATE SET hash = excluded.hash, hashed_at = excluded.hashed_at`,
      );
      const drop = s.prepare(
        "DELETE FROM segment_tree_nodes WHERE dataset = ? AND level = ? AND idx = ? AND replica = ?",
      );
      for (const w of writes)
        if (w.hash === undefined) drop.run(dataset, w.level, w.index, replica);
        else put.run(dataset, w.level, w.index, replica, w.hash, readAt);
      const root = writes.find((w) => w.level === treeHeight(leaves));
      const completeAt = root?.hash !== undefined ? readAt : same ? (head?.complete_at ?? null) : null;
      s.prepare(
        `INSERT OR REPLACE INTO segment_trees (dataset, replica, leaves, complete_at, hashed_at)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(dataset, replica, leaves, completeAt, readAt);
    });
  }

  async getSegmentTreeNodes(
    dataset: string,
    level: number,
    indexes: readonly number[],
  ): Promise<SegmentTreeNode[]> {
    if (!indexes.length) return [];
    const rows = this.s
      .prepare(
        `SELECT replica, level, idx, hash, hashed_at FROM segment_tree_nodes
         WHERE dataset = ? AND level = ? AND idx IN (SELECT value FROM json_each(?)) ORDER BY idx, replica`,
      )
      .all(dataset, level, JSON.stringify([...new Set(indexes)])) as NodeRow[];
    return rows.map(toNode);
  }

  async listSegmentTrees(dataset: string): Promise<SegmentTreeHead[]> {
    const heads = this.s
      .prepare("SELECT * FROM segment_trees WHERE dataset = ? ORDER BY replica")
      .all(dataset) as HeadRow[];
    const root = this.s.prepare(
      "SELECT hash FROM segment_tree_nodes WHERE dataset = ? AND level = ? AND idx = 0 AND replica = ?",
    );
    const known = this.s.prepare(
      "SELECT count(*) AS n FROM segment_tree_nodes WHERE dataset = ? AND level = 0 AND replica = ?",
    );
    return heads.map((h) => {
      const r = root.get(dataset, treeHeight(h.leaves), h.replica) as { hash: string } | undefined;
      const k = known.get(dataset, h.replica) as { n: number };
      return {
        replica: h.replica,
        leaves: h.leaves,
        root: r?.hash,
        known: Number(k.n),
        completeAt: h.complete_at ?? undefined,
        hashedAt: h.hashed_at,
      };
    });
  }

  async staleSegmentHashes(dataset: string, segments: readonly number[] | "all"): Promise<void> {
    this.s.immediate(() => staleSqliteLeaves(this.s, dataset, segments));
  }
}

const toNode = (r: NodeRow): SegmentTreeNode => ({
  replica: r.replica,
  level: r.level,
  index: r.idx,
  hash: r.hash,
  hashedAt: r.hashed_at,
});

/** Forgets leaves and their paths in every replica's tree of the dataset (inside the caller's transaction). */
export function staleSqliteLeaves(
  s: SqliteStateDb,
  dataset: string,
  segments: readonly number[] | "all",
): void {
  if (segments === "all") {
    s.prepare("DELETE FROM segment_tree_nodes WHERE dataset = ?").run(dataset);
    return;
  }
  if (!segments.length) return;
  const heads = s.prepare("SELECT replica, leaves FROM segment_trees WHERE dataset = ?").all(dataset) as {
    replica: string;
    leaves: number;
  }[];
  for (const h of heads) staleSqlitePaths(s, dataset, h.replica, pathsOf(h.leaves, segments));
}

function staleSqlitePaths(
  s: SqliteStateDb,
  dataset: string,
  replica: string,
  nodes: readonly { level: number; index: number }[],
): void {
  const drop = s.prepare(
    "DELETE FROM segment_tree_nodes WHERE dataset = ? AND level = ? AND idx = ? AND replica = ?",
  );
  for (const n of nodes) drop.run(dataset, n.level, n.index, replica);
}

/**
 * Before dirty marks are dropped (inside the caller's transaction): forgets each leaf hashed before the mark
 * on its segment, with its path, so a known leaf stays current once no mark says otherwise. `where` selects
 * the marks about to go (a condition on `d`, the dirty_segments row) with its parameters.
 */
export function staleSqliteLeavesUnderMarks(
  s: SqliteStateDb,
  dataset: string,
  where: string,
  params: readonly (string | number)[],
): void {
  const rows = s
    .prepare(
      `SELECT n.replica, n.idx, t.leaves FROM segment_tree_nodes n
       JOIN dirty_segments d ON d.dataset = n.dataset AND d.segment = n.idx
       JOIN segment_trees t ON t.dataset = n.dataset AND t.replica = n.replica
       WHERE n.dataset = ? AND n.level = 0 AND n.hashed_at < d.marked_at AND ${where}`,
    )
    .all(dataset, ...params) as { replica: string; idx: number; leaves: number }[];
  const byReplica = new Map<string, { leaves: number; segments: number[] }>();
  for (const r of rows) {
    const entry = byReplica.get(r.replica) ?? { leaves: r.leaves, segments: [] };
    entry.segments.push(r.idx);
    byReplica.set(r.replica, entry);
  }
  for (const [replica, { leaves, segments }] of byReplica)
    staleSqlitePaths(s, dataset, replica, pathsOf(leaves, segments));
}

/** Drops the dataset's trees (inside the caller's transaction): its segments changed or its summary went. */
export function dropSqliteTrees(s: SqliteStateDb, dataset: string): void {
  s.prepare("DELETE FROM segment_tree_nodes WHERE dataset = ?").run(dataset);
  s.prepare("DELETE FROM segment_trees WHERE dataset = ?").run(dataset);
}
