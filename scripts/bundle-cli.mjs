#!/usr/bin/env node
// Builds dist/bundle/: the compiled CLI (dist/cli/main.js and every module it reaches, commands split into
// chunks loaded on use) as CommonJS with zod, yaml and commander inlined and tree-shaken, so a `concord`
// process loads a few files instead of ~250 (docs/benchmarks.md "Start-up fixed costs"); CommonJS because
// Node 20 loads it for less CPU than the same chunks as ES modules ("A scan's fixed cost: loading the CLI").
// Run by `npm run build` after tsc; bin/concord.js runs the bundle only while dist/bundle/inputs.json says
// every module it was built from is unchanged, else dist/cli/main.js. Every other package (the drivers,
// fastify, bullmq, ...) stays a plain require: they find their own files and native parts as they do
// unbundled; a package that is an ES module only must be reached by a dynamic import(), which the bundle
// keeps (zongji, in mysql-feed.ts). `import.meta.url` in a bundled module still names its file in dist/
// (package-version.ts, the dashboard's assets, node-postgres). The bundler is rolldown (a pinned dev
// dependency; vite uses it too); without it no bundle is built and the CLI runs from dist/ as before.
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const OUT = join(DIST, "bundle");
/** Packages inlined: pure JavaScript, loaded by every command, many files each. */
const INLINE = new Set(["zod", "yaml", "commander"]);

rmSync(OUT, { recursive: true, force: true });
if (!existsSync(join(DIST, "cli", "main.js"))) {
  process.stderr.write("bundle-cli: dist/cli/main.js is missing (run tsc first)\n");
  process.exit(1);
}
let rolldown;
try {
  ({ rolldown } = await import("rolldown"));
} catch {
  process.stderr.write("bundle-cli: rolldown is not installed; the CLI runs from dist/ unbundled\n");
  process.exit(0);
}

const packageOf = (id) => (id.startsWith("@") ? id.split("/").slice(0, 2).join("/") : id.split("/")[0]);
const inputs = new Set();
const bundle = await rolldown({
  input: join(DIST, "cli", "main.js"),
  platform: "node",
  external: (id) => id.startsWith("node:") || (!/^[./]/.test(id) && !INLINE.has(packageOf(id))),
  plugins: [
    {
      name: "concord-dist-modules",
      transform(code, id) {
        if (!id.startsWith(DIST + sep)) return null;
        inputs.add(relative(DIST, id).split(sep).join("/"));
        if (!code.includes("import.meta.url")) return null;
        // In a chunk, __dirname is dist/bundle/: the module's own file is found relative to it, through
        // imports of its own (a bare `require` there could be the module's own local of that name).
        const file = JSON.stringify(relative(OUT, id).split(sep).join("/"));
        const url = `__concordFileUrl(__concordJoin(__dirname, ${file})).href`;
        const imports =
          'import { pathToFileURL as __concordFileUrl } from "node:url";\nimport { join as __concordJoin } from "node:path";\n';
        return { code: imports + code.replaceAll("import.meta.url", url) };
      },
    },
  ],
  logLevel: "warn",
});
await bundle.write({
  dir: OUT,
  format: "cjs",
  entryFileNames: "[name].cjs",
  chunkFileNames: "[name]-[hash].cjs",
  // Comments other than licences go: a process reads and parses a fifth less source, and most chunks become
  // pure ASCII, which V8 holds in half the memory of text with a "—" in a comment.
  comments: { legal: true, annotation: false, jsdoc: false },
  sourcemap: false,
});
await bundle.close();

// What bin/concord.js checks before it runs the bundle: the modules it was built from, none newer than it.
mkdirSync(OUT, { recursive: true });
const builtAt = Math.max(...[...inputs].map((f) => statSync(join(DIST, f)).mtimeMs));
writeFileSync(join(OUT, "inputs.json"), `${JSON.stringify({ builtAt, inputs: [...inputs].sort() })}\n`);
