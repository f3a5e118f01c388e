/** The SegmentTreeStore port: per dataset and replica, a Merkle tree over the checksums of the summary's segments. */

/** One segment's checksum as a leaf (`leafHash` of core/segment-tree). */
export interface SegmentLeaf {
  readonly segment: number;
  readonly hash: string;
}

/** A known node of one replica's tree (unknown nodes are not stored). */
export interface SegmentTreeNode {
  readonly replica: string;
  readonly level: number;
  readonly index: number;
  readonly hash: string;
  /** When what it covers was read (the `readAt` of the update that wrote it), ms. */
  readonly hashedAt: number;
}

/** One replica's tree as a whole. */
export interface SegmentTreeHead {
  readonly replica: string;
  /** How many leaves (segments) it has. */
  readonly leaves: number;
  /** Its root's hash; undefined while some leaf is unknown. */
  readonly root: string | undefined;
  /** Leaves known. */
  readonly known: number;
  /** When an update last left the root known (that update's `readAt`); undefined: never. */
  readonly completeAt: number | undefined;
  /** When a leaf was last set (`readAt`). */
  readonly hashedAt: number;
}

/**
 * Merkle trees of segment checksums, one per dataset and replica, over the segments of the dataset's
 * summary (core/segment-tree gives the shape: binary, leaves in key order). Memory and I/O per call are
 * bounded by the nodes it touches: an update reads the siblings of its leaves' paths and writes the paths,
 * O(k log n) for k leaves of n.
 *
 * ## Currency (why a known leaf can be trusted)
 * A leaf is written with the time its checksum was read (`hashedAt`). It is current unless the dataset has a
 * dirty mark on its segment made after that time (SegmentSummaryStore). Every operation that drops a mark
 * (`clearDirtySegments`, `clearDirtyKeys`, `verifySegmentSummary`) first drops, in the same transaction,
 * the leaves hashed before the mark and the paths above them; `putSegmentSummary` with other bounds and
 * `deleteSegmentSummary` drop the dataset's trees. So a known leaf is the replica's checksum of its segment
 * unless a mark younger than it says otherwise, and readers judge currency from the marks they read.
 *
 * ## Contract
 * `putSegmentHashes(dataset, replica, leaves, hashes, readAt)` sets those leaves of the replica's tree of
 * `leaves` leaves (a stored tree of another size is dropped first), each `hashedAt = readAt`, and recomputes
 * every node on their paths from the stored siblings (a node is known when its children are); atomic. When
 * the root ends up known, `completeAt = readAt`. Leaves outside [0, leaves) are ignored.
 * `getSegmentTreeNodes(dataset, level, indexes)` returns the known nodes at those indexes of every replica's
 * tree, by index then replica. `listSegmentTrees(dataset)` returns each replica's head, by replica.
 * `staleSegmentHashes(dataset, segments)` forgets those leaves and their paths in every replica's tree
 * (`"all"`: every node; heads stay, so `completeAt` still says when a tree was last complete).
 */
export interface SegmentTreeStore {
  putSegmentHashes(
    dataset: string,
    replica: string,
    leaves: number,
    hashes: readonly SegmentLeaf[],
    readAt: number,
  ): Promise<void>;
  getSegmentTreeNodes(dataset: string, level: number, indexes: readonly number[]): Promise<SegmentTreeNode[]>;
  listSegmentTrees(dataset: string): Promise<SegmentTreeHead[]>;
  staleSegmentHashes(dataset: string, segments: readonly number[] | "all"): Promise<void>;
}
