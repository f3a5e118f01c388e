/** Canonical JSON micro-benchmark: the exact canonicaliser against JSON.parse + sorted JSON.stringify. */
// Usage: npm run build && node bench/canonical-json.mjs   (BENCH_DOCS=20000 BENCH_REPS=7)
//
// Three typical json-column documents (a small profile, an order with line items, an event with nested
// metadata), each as an application writes it (members unsorted, spaces) and as it reads back once
// canonical (the common case on later scans). Per document and form it times, in one process after a
// warm-up, the median of BENCH_REPS passes over BENCH_DOCS variants of:
//   old    JSON.stringify of the JSON.parse tree rebuilt with sorted keys (the previous canonical form);
//   exact  canonicalJsonText (src/core/canonical-json-text.ts);
//   floor  JSON.parse + JSON.stringify with no sorting (what no canonical form can beat).
import { performance } from "node:perf_hooks";
import { canonicalJsonText } from "../dist/core/canonical-json-text.js";

const N = Number(process.env.BENCH_DOCS ?? 20_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);

function sortJson(value) {
  if (Array.isArray(value)) return value.map(sortJson);
  if (value !== null && typeof value === "object") {
    const out = Object.create(null);
    for (const k of Object.keys(value).sort()) out[k] = sortJson(value[k]);
    return out;
  }
  return value;
}

const old = (t) => JSON.stringify(sortJson(JSON.parse(t)));
const floor = (t) => JSON.stringify(JSON.parse(t));

const DOCS = {
  profile: (i) => ({
    name: `user ${i}`,
    email: `user${i}@example.com`,
    age: 20 + (i % 50),
    active: i % 3 === 0,
    score: (i % 1000) / 8,
    tags: ["a", "b", `t${i % 7}`],
    address: { street: `${i} Main St`, city: "Springfield", zip: `${10000 + (i % 9000)}` },
  }),
  order: (i) => ({
    id: 1_000_000 + i,
    customer: { id: i % 5000, tier: "gold" },
    currency: "EUR",
    lines: Array.from({ length: 4 }, (_, j) => ({
      sku: `SKU-${(i + j) % 997}`,
      qty: j + 1,
      price: 9.99 + j,
    })),
    total: 59.94 + (i % 10),
    placedAt: "2026-01-15T10:00:00Z",
    notes: i % 2 ? null : "leave at the door",
  }),
  event: (i) => ({
    type: "click",
    at: 1_767_000_000_000 + i,
    session: `s-${i % 100}`,
    meta: { ua: "Mozilla/5.0 (X11; Linux x86_64)", screen: { w: 1920, h: 1080 }, flags: [true, false, null] },
    payload: { path: `/products/${i % 300}`, ref: "https://example.com/?q=caf\u00e9", depth: i % 9 },
  }),
};

function unsorted(value) {
  // Members in reverse insertion order with spaces, as an application might write them.
  if (Array.isArray(value)) return `[${value.map(unsorted).join(", ")}]`;
  if (value !== null && typeof value === "object")
    return `{ ${Object.keys(value)
      .reverse()
      .map((k) => `${JSON.stringify(k)}: ${unsorted(value[k])}`)
      .join(", ")} }`;
  return JSON.stringify(value);
}

function time(fn, texts) {
  let sink = 0;
  for (const t of texts.slice(0, 2000)) sink += fn(t).length; // warm-up
  const runs = [];
  for (let r = 0; r < REPS; r++) {
    const start = performance.now();
    for (const t of texts) sink += fn(t).length;
    runs.push(performance.now() - start);
  }
  runs.sort((a, b) => a - b);
  if (sink < 0) console.log(sink);
  return (runs[Math.floor(REPS / 2)] / texts.length) * 1e6; // ns per document
}

console.log(`node ${process.version}, ${N} documents per case, median of ${REPS}`);
console.log("document  form       bytes   old ns   exact ns   floor ns   exact/old   exact/floor");
for (const [name, make] of Object.entries(DOCS)) {
  const values = Array.from({ length: N }, (_, i) => make(i));
  for (const [form, texts] of [
    ["as written", values.map(unsorted)],
    ["canonical", values.map((v) => old(JSON.stringify(v)))],
  ]) {
    for (const t of texts.slice(0, 100))
      if (canonicalJsonText(t) !== old(t)) throw new Error(`differs: ${t}`);
    const bytes = Math.round(texts.reduce((n, t) => n + t.length, 0) / texts.length);
    const o = time(old, texts);
    const e = time(canonicalJsonText, texts);
    const f = time(floor, texts);
    console.log(
      `${name.padEnd(9)} ${form.padEnd(10)} ${String(bytes).padStart(5)} ${o.toFixed(0).padStart(8)} ${e
        .toFixed(0)
        .padStart(
          10,
        )} ${f.toFixed(0).padStart(10)} ${(e / o).toFixed(2).padStart(11)} ${(e / f).toFixed(2).padStart(13)}`,
    );
  }
}
