/** The SegmentTreeStore port on PostgreSQL, and the tree upkeep the PostgreSQL segment summaries share. */
import {
  pathsOf,
  siblingsToRead,
  type TreeNodeId,
  treeHeight,
  updatePaths,
} from "../../core/segment-tree.js";
import type {
  SegmentLeaf,
  SegmentTreeHead,
  SegmentTreeNode,
  SegmentTreeStore,
} from "../segment-tree-store.js";
import type { StateClient } from "./postgres-state-connection.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

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

/** `(level, idx) IN (…)` over two int[] parameters numbered `from` and `from + 1`. */
const nodeIn = (from: number) =>
  `(level, idx) IN (SELECT * FROM unnest($${from}::int[], $${from + 1}::int[]))`;
const columns = (nodes: readonly TreeNodeId[]) => [nodes.map((n) => n.level), nodes.map((n) => n.index)];

export class PostgresSegmentTreeStore implements SegmentTreeStore {
  constructor(private readonly db: PostgresStateDb) {}

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
    const { segmentTreeNodes: nodes, segmentTrees: trees } = this.db.t;
    await this.db.transaction(async (c) => {
      // Serialised with the drops that go with dropping dirty marks (see the port's "Currency").
      await this.db.lock(c, `segments:${dataset}`);
      const found = await c.query(`SELECT * FROM ${trees} WHERE dataset = $1 AND replica = $2`, [
        dataset,
        replica,
      ]);
      const head = found.rows[0] as HeadRow | undefined;
      const same = head !== undefined && Number(head.leaves) === leaves;
      if (head && !same)
        await c.query(`DELETE FROM ${nodes} WHERE dataset = $1 AND replica = $2`, [dataset, replica]);
      const stored = new Map<string, string>();
      const reads = same ? siblingsToRead(leaves, changed.keys()) : [];
      if (reads.length) {
        const got = await c.query(
          `SELECT level, idx, hash FROM ${nodes} WHERE dataset = $1 AND replica = $2 AND ${nodeIn(3)}`,
          [dataset, replica, ...columns(reads)],
        );
        for (const r of got.rows as NodeRow[]) stored.set(`${r.level}:${r.idx}`, r.hash);
      }
      const writes = updatePaths(leaves, changed, (level, index) => stored.get(`${level}:${index}`));
      const known = writes.filter((w) => w.hash !== undefined);
      const unknown = writes.filter((w) => w.hash === undefined);
      if (known.length)
        await c.query(
          `INSERT INTO ${nodes} (dataset, level, idx, replica, hash, hashed_at)
           SELECT $1, l, i, $2, h, $3 FROM unnest($4::int[], $5::int[], $6::text[]) AS w(l, i, h)
           ON CONFLICT (dataset, level, idx, replica) DO UPDATE
             SET hash = excluded.hash, hashed_at = excluded.hashed_at`,
          [dataset, replica, readAt, ...columns(known), known.map((w) => w.hash)],
        );
      if (unknown.length)
        await c.query(`DELETE FROM ${nodes} WHERE dataset = $1 AND replica = $2 AND ${nodeIn(3)}`, [
          dataset,
          replica,
          ...columns(unknown),
        ]);
      const root = writes.find((w) => w.level === treeHeight(leaves));
      const completeAt = root?.hash !== undefined ? readAt : same ? head.complete_at : null;
      await c.query(
        `INSERT INTO ${trees} (dataset, replica, leaves, complete_at, hashed_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (dataset, replica) DO UPDATE
           SET leaves = excluded.leaves, complete_at = excluded.complete_at, hashed_at = excluded.hashed_at`,
        [dataset, replica, leaves, completeAt, readAt],
      );
    });
  }

  async getSegmentTreeNodes(
    dataset: string,
    level: number,
    indexes: readonly number[],
  ): Promise<SegmentTreeNode[]> {
    if (!indexes.length) return [];
    const rows = await this.db.query<NodeRow>(
      `SELECT replica, level, idx, hash, hashed_at FROM ${this.db.t.segmentTreeNodes}
       WHERE dataset = $1 AND level = $2 AND idx = ANY($3::int[]) ORDER BY idx, replica`,
      [dataset, level, [...new Set(indexes)]],
    );
    return rows.map((r) => ({
      replica: r.replica,
      level: r.level,
      index: r.idx,
      hash: r.hash,
      hashedAt: Number(r.hashed_at),
    }));
  }

  async listSegmentTrees(dataset: string): Promise<SegmentTreeHead[]> {
    const { segmentTreeNodes: nodes, segmentTrees: trees } = this.db.t;
    const heads = await this.db.query<HeadRow>(`SELECT * FROM ${trees} WHERE dataset = $1 ORDER BY replica`, [
      dataset,
    ]);
    if (!heads.length) return [];
    // Each tree's root sits at its own height; the leaves known are counted in the same statement.
    const rows = await this.db.query<{ replica: string; level: number; hash: string | null; n: string }>(
      `SELECT replica, level, max(hash) AS hash, count(*) AS n FROM ${nodes}
       WHERE dataset = $1 AND (level = 0 OR (idx = 0 AND (replica, level) IN
         (SELECT * FROM unnest($2::text[], $3::int[])))) GROUP BY replica, level`,
      [dataset, heads.map((h) => h.replica), heads.map((h) => treeHeight(Number(h.leaves)))],
    );
    return heads.map((h) => {
      const height = treeHeight(Number(h.leaves));
      const known = rows.find((r) => r.replica === h.replica && r.level === 0);
      const root = rows.find((r) => r.replica === h.replica && r.level === height);
      return {
        replica: h.replica,
        leaves: Number(h.leaves),
        root: root?.hash ?? undefined,
        known: Number(known?.n ?? 0),
        completeAt: h.complete_at === null ? undefined : Number(h.complete_at),
        hashedAt: Number(h.hashed_at),
      };
    });
  }

  async staleSegmentHashes(dataset: string, segments: readonly number[] | "all"): Promise<void> {
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      await stalePostgresLeaves(this.db, c, dataset, segments);
    });
  }
}

/** Forgets leaves and their paths in every replica's tree of the dataset (inside the caller's transaction). */
export async function stalePostgresLeaves(
  db: PostgresStateDb,
  c: StateClient,
  dataset: string,
  segments: readonly number[] | "all",
): Promise<void> {
  const { segmentTreeNodes: nodes, segmentTrees: trees } = db.t;
  if (segments === "all") {
    await c.query(`DELETE FROM ${nodes} WHERE dataset = $1`, [dataset]);
    return;
  }
  if (!segments.length) return;
  const heads = await c.query(`SELECT replica, leaves FROM ${trees} WHERE dataset = $1`, [dataset]);
  for (const h of heads.rows as { replica: string; leaves: number }[])
    await stalePostgresPaths(db, c, dataset, h.replica, pathsOf(Number(h.leaves), segments));
}

async function stalePostgresPaths(
  db: PostgresStateDb,
  c: StateClient,
  dataset: string,
  replica: string,
  paths: readonly TreeNodeId[],
): Promise<void> {
  if (!paths.length) return;
  await c.query(`DELETE FROM ${db.t.segmentTreeNodes} WHERE dataset = $1 AND replica = $2 AND ${nodeIn(3)}`, [
    dataset,
    replica,
    ...columns(paths),
  ]);
}

/**
 * Before dirty marks are dropped (inside the caller's transaction, under the `segments:` lock): forgets each
 * leaf hashed before the mark on its segment, with its path, so a known leaf stays current once no mark says
 * otherwise. `where` selects the marks about to go (a condition on `d`, the dirty_segments row), its
 * parameters numbered from $2.
 */
export async function stalePostgresLeavesUnderMarks(
  db: PostgresStateDb,
  c: StateClient,
  dataset: string,
  where: string,
  params: readonly unknown[],
): Promise<void> {
  const { segmentTreeNodes: nodes, segmentTrees: trees, dirtySegments: dirty } = db.t;
  const found = await c.query(
    `SELECT n.replica, n.idx, t.leaves FROM ${nodes} n
     JOIN ${dirty} d ON d.dataset = n.dataset AND d.segment = n.idx
     JOIN ${trees} t ON t.dataset = n.dataset AND t.replica = n.replica
     WHERE n.dataset = $1 AND n.level = 0 AND n.hashed_at < d.marked_at AND ${where}`,
    [dataset, ...params],
  );
  const byReplica = new Map<string, { leaves: number; segments: number[] }>();
  for (const r of found.rows as { replica: string; idx: number; leaves: number }[]) {
    const entry = byReplica.get(r.replica) ?? { leaves: Number(r.leaves), segments: [] };
    entry.segments.push(r.idx);
    byReplica.set(r.replica, entry);
  }
  for (const [replica, { leaves, segments }] of byReplica)
    await stalePostgresPaths(db, c, dataset, replica, pathsOf(leaves, segments));
}

/** Drops the dataset's trees (inside the caller's transaction): its segments changed or its summary went. */
export async function dropPostgresTrees(db: PostgresStateDb, c: StateClient, dataset: string): Promise<void> {
  await c.query(`DELETE FROM ${db.t.segmentTreeNodes} WHERE dataset = $1`, [dataset]);
  await c.query(`DELETE FROM ${db.t.segmentTrees} WHERE dataset = $1`, [dataset]);
}
