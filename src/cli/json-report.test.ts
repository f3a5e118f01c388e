import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Divergence } from "../core/classify.js";
import type { ColumnSpec } from "../core/model.js";
import { EXIT, reportError } from "./errors.js";
import { divergenceJson, divergenceText } from "./json-items.js";
import { JsonSpill, SpillDir, SpillError } from "./json-spill.js";
import { writeJson } from "./run-json.js";

const INT: ColumnSpec[] = [{ name: "id", type: "integer" }];
const TWO: ColumnSpec[] = [
  { name: "tenant", type: "text" },
  { name: "id", type: "integer" },
];
const present = (fingerprint: string, extra: object = {}) => ({ present: true, fingerprint, ...extra });
const div = (
  key: Divergence["key"],
  replicas: Divergence["replicas"],
  columns: string[] = [],
): Divergence => ({
  key,
  replicas,
  class: columns.length ? "unversioned" : "missing",
  columns,
  newest: [],
  regressed: [],
});

describe("divergenceText", () => {
  it.each([
    ["an update", INT, div(["2"], { a: present("89260cb98d5e5fd0"), b: present("3d2b") }, ["payload", "v"])],
    ["a row on one side only", INT, div(["6"], { a: present("b9a8"), b: { present: false } })],
    [
      "a key beyond 2^53 (kept as text)",
      INT,
      div(["9007199254740993"], { a: present("x"), b: { present: false } }),
    ],
    [
      "a two-part text key with quotes, escapes and non-ASCII",
      TWO,
      div(['t"\\\n\u001e é 😀', "-7"], { 'r "1"': { present: false }, r2: present("f") }),
    ],
    ["a NULL key part", TWO, div([null, "1"], { a: present("f"), b: present("g") }, ["c"])],
    [
      "a version to show (the general path)",
      INT,
      div(["1"], { a: present("f", { version: { v: "3" } }) }, ["v"]),
    ],
    ["an empty version", INT, div(["1"], { a: present("f", { version: {} }), b: present("g") }, ["v"])],
    ["no fingerprint (the general path)", INT, div(["1"], { a: { present: true }, b: { present: false } })],
    ["no replicas", INT, { ...div(["1"], {}), regressed: ["a", "b"] }],
  ] as const)("%s: JSON.stringify(divergenceJson(…), null, 2) exactly", (_, keys, d) => {
    expect(divergenceText(keys, d)).toBe(JSON.stringify(divergenceJson(keys, d), null, 2));
  });

  it("with values to show, as divergenceJson with them", () => {
    const d = div(
      ["1"],
      { a: present("f", { values: ["x", null] }), b: present("g", { values: ["y", "1"] }) },
      ["p"],
    );
    expect(divergenceText(INT, d, ["p", "q"])).toBe(
      JSON.stringify(divergenceJson(INT, d, ["p", "q"]), null, 2),
    );
  });
});

describe("a spill written into a document", () => {
  const dir = mkdtempSync(join(tmpdir(), "concord-json-report-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What writeJson writes for `doc` with the spill of `values` (pushed as text) at its marker. */
  async function written(values: unknown[], before: unknown[] = []): Promise<string> {
    const spill = new JsonSpill(join(dir, `${values.length}-${before.length}.jsonl`));
    for (const v of values) spill.pushText(() => JSON.stringify(v, null, 2));
    let out = "";
    const stream = {
      write: (s: string) => {
        out += s;
        return true;
      },
      once: () => undefined,
    };
    const doc = { datasets: [{ name: "items", divergences: "@@spill:0@@", counts: { n: 1 } }] };
    await writeJson(
      stream as unknown as NodeJS.WritableStream,
      doc,
      new Map([["@@spill:0@@", [...before, spill.items()]]]),
    );
    spill.close();
    return out;
  }
  const expected = (values: unknown[]) =>
    `${JSON.stringify({ datasets: [{ name: "items", divergences: values, counts: { n: 1 } }] }, null, 2)}\n`;
  // Values whose text crosses the 64 KiB chunks the spill is copied in, with multi-byte characters at every offset.
  const many = Array.from({ length: 3000 }, (_, i) => ({
    key: [i],
    text: 'é😀\u001e\n"'.repeat(i % 7),
    nested: { list: [i, { deep: [] }, {}], empty: [] },
  }));

  it.each([
    ["no values", []],
    ["one value", [{ a: 1 }]],
    ["a scalar and an empty array", ["x", [], {}]],
    ["values across many chunks", many],
  ] as const)("%s: as JSON.stringify(doc, null, 2)", async (_, values) => {
    expect(await written([...values])).toBe(expected([...values]));
  });

  it("writes nothing of a small document whose list fails to read (no half a JSON document)", async () => {
    let out = "";
    const stream = {
      write: (s: string) => {
        out += s;
        return true;
      },
      once: () => undefined,
    };
    const failing = (async function* () {
      yield { key: [1] };
      throw new Error("datatype mismatch");
    })();
    const doc = { schemaVersion: 1, escalations: "@@spill:0@@", total: 2 };
    await expect(
      writeJson(stream as unknown as NodeJS.WritableStream, doc, new Map([["@@spill:0@@", failing]])),
    ).rejects.toThrow("datatype mismatch");
    expect(out).toBe("");
  });

  it("after items given as values (schema entries before the spill)", async () => {
    expect(await written(many.slice(0, 50), [{ schema: 1 }, "s"])).toBe(
      expected([{ schema: 1 }, "s", ...many.slice(0, 50)]),
    );
    expect(await written([], [{ schema: 1 }])).toBe(expected([{ schema: 1 }]));
  });
});

describe("a spill whose temporary directory goes away", () => {
  it("fails in one line naming the file and TMPDIR, not as an internal error", () => {
    const spills = new SpillDir();
    const spill = spills.spill();
    for (let i = 0; i < 2000; i++) spill.push(() => ({ key: [i], text: "x".repeat(40) }));
    const file = (spill as unknown as { path: string }).path;
    rmSync(dirname(file), { recursive: true, force: true });
    let thrown: unknown;
    try {
      [...spill.texts()];
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SpillError);
    const lines: string[] = [];
    const code = reportError(thrown, { stderr: { write: (s: string) => lines.push(s) }, env: {} } as never);
    expect(code).toBe(EXIT.usage);
    expect(lines.join("")).toMatch(
      new RegExp(
        `^concord: cannot read the temporary report file ${file.replaceAll(".", "\\.")} \\(ENOENT\\); .*TMPDIR \\(.+\\).*\\n$`,
      ),
    );
    spills.dispose();
  });
});
