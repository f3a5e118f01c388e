/** Redis hash scan cost of checking records' key fields: streamFingerprints over N hashes, builds alternated. Reads only (fills its prefix once). */
// Usage: node bench/redis-key-fields.mjs NAME=ROOT [NAME=ROOT …]   (each ROOT a built checkout: ROOT/dist)
//        BENCH_ROWS=200000 BENCH_REPS=8 BENCH_REDIS_URL=redis://127.0.0.1:6379/13 BENCH_PREFIX=h-types-bench:cust:
// Fills the prefix once with hashes {id, name, balance, tier}, every one holding its id as repairs write it,
// then per repetition streams every record through each build's RedisConnector in turn. Prints the client's
// CPU (the server's script time is not counted); compare builds by the per-repetition ratio.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";

const N = Number(process.env.BENCH_ROWS ?? 200_000);
const REPS = Number(process.env.BENCH_REPS ?? 8);
const URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/13";
const PREFIX = process.env.BENCH_PREFIX ?? "h-types-bench:cust:";
const SHAPE = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "tier", type: "text" },
  ],
};

const admin = new Redis(URL);
if (Number(await admin.exists(`${PREFIX}${N}`)) === 0) {
  for (let i = 1; i <= N; i += 1000) {
    const p = admin.pipeline();
    for (let j = i; j < i + 1000 && j <= N; j++)
      p.hset(`${PREFIX}${j}`, { id: String(j), name: `name ${j}`, balance: `${j % 1000}.50`, tier: "gold" });
    await p.exec();
  }
}
const builds = [];
for (const arg of process.argv.slice(2)) {
  const [name, root] = arg.split("=");
  const url = pathToFileURL(join(root, "dist/connectors/redis/redis-connector.js")).href;
  builds.push({ name, open: (await import(url)).openRedisConnector });
}
for (let rep = 1; rep <= REPS; rep++) {
  for (const b of builds) {
    const c = await b.open(URL, { prefix: PREFIX, label: "bench" });
    const t0 = performance.now();
    const u0 = process.cpuUsage();
    let n = 0;
    for await (const batch of c.streamFingerprints(SHAPE, { lo: null, hi: null }, 1000)) n += batch.length;
    const u = process.cpuUsage(u0);
    const wall = performance.now() - t0;
    console.log(
      `${b.name} rep=${rep} wall=${wall.toFixed(0)}ms cpu=${((u.user + u.system) / 1000).toFixed(0)}ms rows=${n}`,
    );
    await c.close();
  }
}
await admin.quit();
