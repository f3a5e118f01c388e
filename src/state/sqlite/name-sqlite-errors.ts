/** Makes a SQLite state port's driver errors one line naming the state file (StateStoreError). No I/O of its own. */
import { StateStoreError } from "../state-store-error.js";

/** What each SQLite result code a state port can meet means for the user: why, and what to look at. */
const HINTS: Readonly<Record<string, string>> = {
  SQLITE_BUSY: "another process holds the file's write lock (waited 5 s for it)",
  SQLITE_LOCKED: "another connection holds a lock on it",
  SQLITE_READONLY: "the file or its folder cannot be written (permissions, a read-only mount)",
  SQLITE_FULL: "the disk is full",
  SQLITE_IOERR: "the file could not be read or written",
  SQLITE_CORRUPT: "the file is damaged",
  SQLITE_NOTADB: "the file is not a SQLite database",
  SQLITE_CANTOPEN: "the file cannot be opened (deleted, or its folder is gone)",
};

/** The StateStoreError for a SQLite driver error (`code` SQLITE_…), or `err` itself for anything else. */
export function sqliteStateError(err: unknown, label: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return err;
  const hint = HINTS[code] ?? HINTS[code.replace(/^(SQLITE_[A-Z]+)_.*$/, "$1")];
  const message = (err as Error).message;
  return new StateStoreError(`state ${label}: ${message}${hint ? ` (${code}: ${hint})` : ` (${code})`}`);
}

/**
 * `part` with every method's driver error turned into `sqliteStateError` (thrown, rejected, or from an async
 * iterable it returns), so a locked, read-only, full or damaged state file ends a command with one line
 * naming the file instead of an "internal error". Results and other errors pass through unchanged.
 */
export function nameSqliteErrors<T extends object>(part: T, label: string): T {
  return new Proxy(part, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        let out: unknown;
        try {
          out = value.apply(target, args);
        } catch (err) {
          throw sqliteStateError(err, label);
        }
        if (out instanceof Promise)
          return out.catch((err: unknown) => {
            throw sqliteStateError(err, label);
          });
        if (out && typeof out === "object" && Symbol.asyncIterator in out)
          return renamed(out as AsyncIterable<unknown>, label);
        return out;
      };
    },
  });
}

async function* renamed(items: AsyncIterable<unknown>, label: string): AsyncIterable<unknown> {
  try {
    yield* items;
  } catch (err) {
    throw sqliteStateError(err, label);
  }
}
