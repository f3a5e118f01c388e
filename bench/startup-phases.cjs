/** Where a concord process's start-up goes: a --require hook marking its phases (docs/benchmarks.md). */
// Usage: PHASES_OUT=FILE node --require bench/startup-phases.cjs bin/concord.js scan --json -c CONFIG
//   Appends one JSON line to FILE at exit: [mark, wall ms since the process started, CPU ms (process.cpuUsage)]
//   at: the preload, the first require of the bundle's main.cjs, of the scan chunk, of run-dataset, of
//   postgres-connector, the first socket connect, bindings.js (SQLite's native driver), the first stdout
//   write, exit. A CommonJS hook: an --import would set up the ES module loader itself.
//   `node bench/startup-phases-sum.mjs FILE` prints each phase's median.
const Module = require("node:module");
const net = require("node:net");
const { appendFileSync } = require("node:fs");

const marks = [];
const mark = (name) => {
  const cpu = process.cpuUsage();
  marks.push([name, performance.now(), (cpu.user + cpu.system) / 1000]);
};
mark("preload");
const CHUNKS = ["main.cjs", "scan", "run-dataset", "postgres-connector", "bindings.js"];
const seen = new Set();
// Module#load, not #_compile: bin/concord.js compiles the bundle's chunks itself (from V8's code cache).
const load = Module.prototype.load;
Module.prototype.load = function loadMarked(filename) {
  const chunk = filename.replace(/.*[\\/]/, "").replace(/-[\w-]{8}\.cjs$/, "");
  if (CHUNKS.includes(chunk) && !seen.has(chunk)) {
    seen.add(chunk);
    mark(`require ${chunk}`);
  }
  return load.call(this, filename);
};
const connect = net.Socket.prototype.connect;
let connected = false;
net.Socket.prototype.connect = function connectMarked(...args) {
  if (!connected) mark("connect");
  connected = true;
  return connect.apply(this, args);
};
const write = process.stdout.write;
let written = false;
process.stdout.write = function writeMarked(...args) {
  if (!written) mark("stdout");
  written = true;
  return write.apply(this, args);
};
process.on("exit", () => {
  mark("exit");
  appendFileSync(process.env.PHASES_OUT, `${JSON.stringify(marks)}\n`);
});
