#!/usr/bin/env node
// Builds dist/bundle/: the compiled CLI (dist/cli/main.js and every module it reaches, commands split into
// chunks loaded on use) as CommonJS with zod, yaml and commander inlined and tree-shaken, so a `concord` process
// loads a few files instead of ~250 (docs/benchmarks.md "Start-up fixed costs"), and a V8 code cache of each
// chunk in dist/bundle/code-cache/, so it does not parse them either ("A scan's fixed cost: compiling the CLI").
// Run by `npm run build` after tsc; bin/concord.js runs the bundle (through bin/bundle-loader.js) only while
// dist/bundle/inputs.json says every module it was built from is unchanged, else dist/cli/main.js. Every
// other package (the drivers, fastify, bullmq, ...) stays a plain require: they find their own files and native
// parts as they do unbundled. `import.meta.url` in a bundled module still names its file in dist/
// (package-version.ts, the dashboard's assets, node-postgres). The bundler is rolldown (a pinned dev
// dependency; vite uses it too); without it no bundle is built and the CLI runs from dist/ as before.
import { spawnSync } from "node:child_process";
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
const { output } = await bundle.write({
  dir: OUT,
  format: "cjs",
  entryFileNames: "[name].cjs",
  chunkFileNames: "[name]-[hash].cjs",
  // Comments other than licences go: a process parses (and the loader hashes) a third less source, and most
  // chunks become pure ASCII, which V8 holds in half the memory of text with a "—" in a comment.
  comments: { legal: true, annotation: false, jsdoc: false },
  sourcemap: false,
});
await bundle.close();

// What bin/concord.js checks before it runs the bundle: the modules it was built from, none newer than it.
mkdirSync(OUT, { recursive: true });
const builtAt = Math.max(...[...inputs].map((f) => statSync(join(DIST, f)).mtimeMs));
writeFileSync(join(OUT, "inputs.json"), `${JSON.stringify({ builtAt, inputs: [...inputs].sort() })}\n`);

// The code cache, written by a process of its own: V8 accepts a cache only under the flags it was made with,
// so no NODE_OPTIONS of this build may reach it. Chunks that import() a package (a dynamic import a vm.Script
// cannot run on Node 20) get none and load through Node's own compiler.
const chunks = new Set(output.map((o) => o.fileName));
const importing = output.filter((o) => o.type === "chunk" && o.dynamicImports.some((d) => !chunks.has(d)));
const cache = spawnSync(
  process.execPath,
  [join(ROOT, "scripts", "bundle-code-cache.mjs"), OUT, ...importing.map((o) => o.fileName)],
  { env: { ...process.env, NODE_OPTIONS: "" }, stdio: "inherit" },
);
if (cache.status !== 0)
  process.stderr.write("bundle-cli: no code cache written; the bundle runs without it\n");
