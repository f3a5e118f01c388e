/** The dashboard's static files: the top-level dashboard/ folder and uPlot from node_modules. Read once, served from memory. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

/** One file the dashboard needs, as served. */
export interface DashboardAsset {
  /** URL path it is served at. */
  readonly path: string;
  readonly contentType: string;
  readonly body: Buffer;
  readonly etag: string;
}

/**
 * The folder holding index.html, dashboard.css and dashboard.js. This module sits three levels below the
 * package root both as source (src/serve/http/) and compiled (dist/serve/http/), so the same relative path
 * finds the shipped `dashboard/` folder (package.json "files") from either.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../../dashboard/", import.meta.url));

const FILES: readonly { path: string; file: string; contentType: string }[] = [
  { path: "/", file: "index.html", contentType: "text/html; charset=utf-8" },
  { path: "/assets/dashboard.css", file: "dashboard.css", contentType: "text/css; charset=utf-8" },
  { path: "/assets/dashboard.js", file: "dashboard.js", contentType: "text/javascript; charset=utf-8" },
  { path: "/assets/favicon.svg", file: "favicon.svg", contentType: "image/svg+xml" },
];

const UPLOT: readonly { path: string; module: string; contentType: string }[] = [
  {
    path: "/assets/uPlot.iife.min.js",
    module: "uplot/dist/uPlot.iife.min.js",
    contentType: "text/javascript; charset=utf-8",
  },
  {
    path: "/assets/uPlot.min.css",
    module: "uplot/dist/uPlot.min.css",
    contentType: "text/css; charset=utf-8",
  },
];

function asset(path: string, contentType: string, body: Buffer): DashboardAsset {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return { path, contentType, body, etag };
}

/** Reads every dashboard file; throws naming the file when one is missing (a broken install). */
export function loadDashboardAssets(dir: string = DASHBOARD_DIR): DashboardAsset[] {
  const require = createRequire(import.meta.url);
  const assets: DashboardAsset[] = [];
  for (const f of FILES) {
    const file = `${dir}${f.file}`;
    if (!existsSync(file))
      throw new Error(`dashboard file missing: ${file} (is the dashboard/ folder installed?)`);
    assets.push(asset(f.path, f.contentType, readFileSync(file)));
  }
  for (const u of UPLOT) assets.push(asset(u.path, u.contentType, readFileSync(require.resolve(u.module))));
  return assets;
}

// Only our own files run: uPlot sets element styles through the CSSOM, which style-src does not govern.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Serves the dashboard assets with ETags (revalidated on every load, so an upgrade shows at once). */
export function registerDashboard(app: FastifyInstance, assets: readonly DashboardAsset[]): void {
  for (const a of assets) {
    app.get(a.path, async (req, reply) => {
      reply
        .header("cache-control", "no-cache")
        .header("etag", a.etag)
        .header("content-type", a.contentType)
        .header("x-content-type-options", "nosniff");
      if (a.contentType.startsWith("text/html")) {
        reply
          .header("content-security-policy", CSP)
          .header("referrer-policy", "no-referrer")
          .header("x-frame-options", "DENY");
      }
      if (req.headers["if-none-match"] === a.etag) return reply.code(304).send();
      return reply.send(a.body);
    });
  }
}
