/** node-postgres for the PostgreSQL state store, loaded once without its Cloudflare probe. */
import { createRequire } from "node:module";
import type * as NodePostgres from "pg";

/**
 * The `pg` module (the same instance `import … from "pg"` gives). Loading pg asks whether it runs in a
 * Cloudflare Worker: where there is no `navigator` (Node 20; Node 21+ define one) it constructs a fetch
 * `Response`, which makes Node load its fetch implementation, undici: about 50 ms of CPU in every process
 * that touches PostgreSQL, for a fetch nothing here makes. A plain `navigator` defined only while pg loads
 * answers the probe at once (not Cloudflare: pg keeps its Node sockets) and is removed before anything else
 * runs. src/connectors/postgres/node-postgres.ts does the same for the replicas (the folders share no code).
 */
export const pg: typeof NodePostgres = withoutFetchProbe(() => createRequire(import.meta.url)("pg"));

function withoutFetchProbe<T>(load: () => T): T {
  if ("navigator" in globalThis) return load();
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: `Node.js/${process.versions.node}` },
    configurable: true,
  });
  try {
    return load();
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}
