/** The in-PostgreSQL pair's set-up path of a scan, in process: two builds alternately (docs/benchmarks.md). */
// Usage: node bench/pair-setup.mjs URL TABLE_A TABLE_B REPS BASE_DIST NEW_DIST
//   Each repetition, for each build's dist/: open both connectors, describe both at once, accept the pair
//   (its facts, the key check) and wait for the connections it warms; prints the milliseconds to both described, to the pair,
//   to the warmed connections, and the statements sent, then the medians per build.
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
const mods = await Promise.all(dists.map((d) => import(`${d}/connectors/postgres/postgres-connector.js`)));
const runs = dists.map(() => []);
for (let rep = 0; rep < reps; rep++) {
  for (const [i, m] of mods.entries()) {
    const t0 = performance.now();
    const a = m.openPostgresConnector(url, ta, { label: "a" });
    const b = m.openPostgresConnector(url, tb, { label: "b" });
    await Promise.all([a.describe(), b.describe()]);
    const described = performance.now() - t0;
    const pair = await a.pairDiff.pair(shape, b);
    if (typeof pair === "string") throw new Error(pair);
    const paired = performance.now() - t0;
    await a.warmed();
    const warmed = performance.now() - t0;
    const queries = a.stats.queries + b.stats.queries;
    await a.close();
    await b.close();
    // The closed backends exit before the next build connects (their exit would slow its start-up).
    await new Promise((r) => setTimeout(r, 300));
    runs[i].push({ described, paired, warmed, queries });
    console.log(
      JSON.stringify({
        dist: dists[i],
        rep,
        described: +described.toFixed(1),
        paired: +paired.toFixed(1),
        warmed: +warmed.toFixed(1),
        queries,
      }),
    );
  }
}
for (const [i, d] of dists.entries())
  console.log(
    `# ${d}: median described ${median(runs[i].map((r) => r.described)).toFixed(1)} ms, to pair ${median(runs[i].map((r) => r.paired)).toFixed(1)} ms, to warmed ${median(runs[i].map((r) => r.warmed)).toFixed(1)} ms, statements ${median(runs[i].map((r) => r.queries))}`,
  );
