/** Opens the state store a URL names (sqlite:PATH; postgres:// arrives with the server-store work). */
import { redactUrl } from "../config/redact.js";
import { SqliteStateStore } from "./sqlite/sqlite-state-store.js";
import type { StateStore } from "./state-store.js";

export class StateStoreError extends Error {
  override readonly name = "StateStoreError";
}

export async function openStateStore(url: string): Promise<StateStore> {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    try {
      return SqliteStateStore.open(path);
    } catch (err) {
      throw new StateStoreError(`state ${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new StateStoreError(`state: unsupported state store ${redactUrl(url)} (supported: sqlite:PATH)`);
}
