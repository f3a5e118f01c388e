/** A state store opened on first use, so a command that fails before its work creates and writes nothing. */
import type { StateStore } from "../state/state-store.js";

/**
 * A StateStore that calls `open` the first time any method is called and forwards every call to the store
 * it opened; `close` closes it only if it was opened (and did open). A command that fails at config, connection or
 * table inspection therefore never creates the state file or records a run.
 */
/** The store's members that answer an async iterable, not a promise: the proxy opens the store on first read. */
const ITERATORS: ReadonlySet<string | symbol> = new Set<keyof StateStore>(["iterateAudit", "keysOfRun"]);

export function lazyStateStore(open: () => Promise<StateStore>): StateStore {
  let opening: Promise<StateStore> | undefined;
  const store = () => {
    opening ??= open();
    return opening;
  };
  return new Proxy({} as StateStore, {
    get(_, prop) {
      if (prop === "then") return undefined;
      if (prop === "close")
        return async () => {
          // A store that failed to open has nothing to close (its error was the caller's to handle).
          if (opening !== undefined) await (await opening.catch(() => undefined))?.close();
        };
      if (ITERATORS.has(prop))
        return async function* (...args: unknown[]) {
          const s = await store();
          yield* (s[prop as keyof StateStore] as (...a: unknown[]) => AsyncIterable<unknown>).apply(s, args);
        };
      return async (...args: unknown[]) => {
        const s = await store();
        return (s[prop as keyof StateStore] as (...a: unknown[]) => unknown).apply(s, args);
      };
    },
  });
}
