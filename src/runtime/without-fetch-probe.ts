/**
 * Loading node-postgres without its Cloudflare probe, for the two folders that load the driver
 * (src/connectors/postgres and src/state/postgres). Driver-free: the caller's `load` imports pg.
 */

/**
 * Runs `load` with a plain `navigator` defined, then removes it. Loading pg asks whether it runs in a
 * Cloudflare Worker: where there is no `navigator` (Node 20; Node 21+ define one) it constructs a fetch
 * `Response`, which makes Node load its fetch implementation, undici: about 50 ms of CPU in every process
 * that touches PostgreSQL, for a fetch nothing here makes. The navigator answers the probe at once (not
 * Cloudflare: pg keeps its Node sockets) and is gone before anything else runs.
 */
export function withoutFetchProbe<T>(load: () => T): T {
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
