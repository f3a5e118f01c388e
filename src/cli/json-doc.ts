/** The envelope of every `--json` document: its schema version first. See README "JSON output". */

/**
 * The version of the `--json` documents' shape. It goes up only when a member is removed or changes meaning;
 * members are added without a new version (readers ignore members they do not know).
 */
export const SCHEMA_VERSION = 1;

/** `doc` with `schemaVersion` as its first member. */
export function jsonDoc<T extends object>(doc: T): { schemaVersion: number } & T {
  return { schemaVersion: SCHEMA_VERSION, ...doc };
}
