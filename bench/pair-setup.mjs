/** The in-PostgreSQL pair's set-up path of a scan, in process: two builds alternately (docs/benchmarks.md). */
// Usage: node bench/pair-setup.mjs URL TABLE_A TABLE_B REPS BASE_DIST NEW_DIST
//   Each repetition, for each build's dist/: open both connectors, describe both at once, accept the pair
//   (its facts, the key check) and wait for the connections it warms; prints the milliseconds to both described, to the pair,
//   to the warmed connections, and the statements sent, then the medians per build. With BENCH_PAIR_FIRST=KEY,
//   instead of waiting for the warmed connections it goes on as a scan does: the row estimate, the whole
//   table's bounds, then the first segment [null, KEY) compared by the pair; prints the milliseconds to its
//   first listed batch and to its end, and the backends connected (pg_stat_activity, by application_name).
const [url, ta, tb, repsText, ...dists] = process.argv.slice(2);
const reps = Number(repsText);
const shape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "payload", type: "text" },
    { name: "version", type: "integer" },
    { name: "updated_at", type: "timestamp" },
  ],
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const firstHi = process.env.BENCH_PAIR_FIRST;
const { default: pg } = await import("pg");
const admin = new pg.Client(url);
await admin.connect();
const app = `concord_pair_setup_${process.pid}`;
const appUrl = new URL(url);
appUrl.searchParams.set("application_name", app);
const mods = await Promise.all(dists.map((d) => import(`${d}/connectors/postgres/postgres-connector.js`)));
const runs = dists.map(() => []);
for (let rep = 0; rep < reps; rep++) {
  // Alternating which build goes first.
  for (const i of rep % 2 ? [...mods.keys()].reverse() : mods.keys()) {
    const m = mods[i];
    const t0 = performance.now();
    const a = m.openPostgresConnector(appUrl.toString(), ta, { label: "a" });
    const b = m.openPostgresConnector(appUrl.toString(), tb, { label: "b" });
    await Promise.all([a.describe(), b.describe()]);
    const described = performance.now() - t0;
    const pair = await a.pairDiff.pair(shape, b);
    if (typeof pair === "string") throw new Error(pair);
    const paired = performance.now() - t0;
    let ready = 0;
    let first = 0;
    let done = 0;
    if (firstHi) {
      await a.estimateCount(shape);
      await a.keyBounds(shape, { lo: null, hi: null });
      ready = performance.now() - t0;
      for await (const _ of pair.diff({ lo: null, hi: [firstHi] }, 1000, () => undefined))
        first ||= performance.now() - t0;
      done = performance.now() - t0;
    } else await a.warmed();
    const warmed = firstHi ? 0 : performance.now() - t0;
    const queries = a.stats.queries + b.stats.queries;
    const backends = Number(
      (
        await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [
          app,
        ])
      ).rows[0].n,
    );
    await a.close();
    await b.close();
    // The closed backends exit before the next build connects (their exit would slow its start-up).
    await new Promise((r) => setTimeout(r, 300));
    runs[i].push({ described, paired, warmed, queries, ready, first, done, backends });
    console.log(
      JSON.stringify({
        dist: dists[i],
        rep,
        described: +described.toFixed(1),
        paired: +paired.toFixed(1),
        warmed: +warmed.toFixed(1),
        queries,
        ...(firstHi
          ? { ready: +ready.toFixed(1), firstBatch: +first.toFixed(1), segmentDone: +done.toFixed(1) }
          : {}),
        backends,
      }),
    );
  }
}
for (const [i, d] of dists.entries())
  console.log(
    `# ${d}: median described ${median(runs[i].map((r) => r.described)).toFixed(1)} ms, to pair ${median(runs[i].map((r) => r.paired)).toFixed(1)} ms, to warmed ${median(runs[i].map((r) => r.warmed)).toFixed(1)} ms, to the estimate and bounds ${median(runs[i].map((r) => r.ready)).toFixed(1)} ms, to the first batch ${median(runs[i].map((r) => r.first)).toFixed(1)} ms, to the first segment's end ${median(runs[i].map((r) => r.done)).toFixed(1)} ms, statements ${median(runs[i].map((r) => r.queries))}, backends ${median(runs[i].map((r) => r.backends))}`,
  );
await admin.end();
