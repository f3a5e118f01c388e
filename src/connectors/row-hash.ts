/** Which per-row hash a SQL connector's statement computes. Declarations only: shared by the SQL dialect folders. */

/** The canonical fingerprint (comparable with every store), or the store's native row hash (see NativeHashCapability). */
export type RowHash = "fingerprint" | "native";
