/**
 * The package's entry points load what they say: `concord/core` and `concord/engine` reach no database
 * driver through their static imports (type-only imports are erased), and the layers keep their direction.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");
const DRIVERS = [
  "pg",
  "mysql2",
  "ioredis",
  "better-sqlite3",
  "bullmq",
  "@vlasky/zongji",
  "pg-logical-replication",
];

/**
 * Value imports and re-exports of a TypeScript module (`import type` / `export type` are erased), and what
 * it loads with `createRequire(import.meta.url)("…")` (node-postgres.ts loads pg so).
 */
function specifiers(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?"([^"]+)"/gm))
    out.push(m[1]!);
  for (const m of text.matchAll(/createRequire\(import\.meta\.url\)\("([^"]+)"\)/g)) out.push(m[1]!);
  return out;
}

/** Every module reachable from `entry` by static value imports, and the bare packages they name. */
function reach(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [join(SRC, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of specifiers(file)) {
      if (spec.startsWith(".")) todo.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  return { files, packages };
}

const relative = (files: Set<string>) => [...files].map((f) => f.slice(SRC.length + 1)).sort();

describe("entry points", () => {
  it("concord/core loads only the core, and no package but node:crypto", () => {
    const { files, packages } = reach("core/index.ts");
    expect(relative(files).filter((f) => !f.startsWith("core/"))).toEqual([]);
    expect([...packages].sort()).toEqual(["node:crypto"]);
  });

  it("concord/engine loads no database driver and nothing of the CLI, serve or the simulator", () => {
    const { files, packages } = reach("engine/index.ts");
    expect([...packages].filter((p) => DRIVERS.includes(p))).toEqual([]);
    expect(relative(files).filter((f) => /^(cli|serve|sim)\/|^(connectors|state)\/[^/]+\//.test(f))).toEqual(
      [],
    );
  });

  it("the full entry does bring the bundled stores (so the checks above can tell)", () => {
    expect(reach("index.ts").packages).toContain("better-sqlite3");
    // pg is loaded through createRequire (connectors/postgres/node-postgres.ts), which the walk follows.
    expect(reach("index.ts").packages).toContain("pg");
  });

  it("package.json maps the subpaths to the compiled entries", () => {
    const pkg = JSON.parse(readFileSync(join(SRC, "../package.json"), "utf8"));
    expect(pkg.exports["."].default).toBe("./dist/index.js");
    expect(pkg.exports["./core"].default).toBe("./dist/core/index.js");
    expect(pkg.exports["./engine"].default).toBe("./dist/engine/index.js");
  });
});
