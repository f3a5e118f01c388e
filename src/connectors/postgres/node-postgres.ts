/** node-postgres, loaded once without its Cloudflare probe; the one place this folder loads the driver. */
import { createRequire } from "node:module";
import type * as NodePostgres from "pg";
import { withoutFetchProbe } from "../../runtime/without-fetch-probe.js";

/** The `pg` module (the same instance `import … from "pg"` gives), loaded without undici (see withoutFetchProbe). */
export const pg: typeof NodePostgres = withoutFetchProbe(() => createRequire(import.meta.url)("pg"));
