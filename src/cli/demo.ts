/** `concord demo` (what `npm start` runs): builds two drifted SQLite replicas and reconciles them, narrating each step. */
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { verifyAuditChainAsync } from "../core/audit-chain.js";
import type { Decision } from "../core/decide.js";
import { keyText, keyToJson } from "../core/model.js";
import { createDemo, DEMO_CONFIG_HEAD, DEMO_FILES, restoreOldBackup } from "../demo/create-demo.js";
import { runDataset } from "../engine/run-dataset.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { collectRun, type RunReport } from "./collect-run.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { SpillDir } from "./json-spill.js";
import { renderRun } from "./render-scan.js";
import { newRunId, openSession, type Session } from "./session.js";

export interface DemoOptions {
  readonly dir: string;
}

function count<T>(items: readonly T[], by: (t: T) => string): string {
  const m = new Map<string, number>();
  for (const i of items) m.set(by(i), (m.get(by(i)) ?? 0) + 1);
  return [...m].map(([k, n]) => `${k} ${n}`).join(" · ") || "nothing";
}

/** Scans every dataset of the session as one run, as `concord scan` does. */
async function scanAll(session: Session): Promise<RunReport[]> {
  const spills = new SpillDir({ keep: false });
  try {
    const runId = newRunId();
    const runs: RunReport[] = [];
    for (const ds of session.datasets)
      runs.push(await collectRun(session, ds, runId, "scan", "scan", spills));
    return runs;
  } finally {
    spills.dispose();
  }
}

/** Repairs every dataset of the session as one run, keeping each dataset's decisions and every repair. */
async function reconcile(session: Session): Promise<{
  plans: { name: string; shape: RunReport["resolved"]["shape"]; decisions: Decision[] }[];
  results: RepairResult[];
}> {
  const runId = newRunId();
  const plans: { name: string; shape: RunReport["resolved"]["shape"]; decisions: Decision[] }[] = [];
  const results: RepairResult[] = [];
  for (const ds of session.datasets) {
    const decisions: Decision[] = [];
    const run = await runDataset(
      ds,
      await session.replicas(ds),
      { state: session.state, now: Date.now },
      {
        runId,
        command: "repair",
        mode: "repair",
        observer: {
          onSegment(segment) {
            decisions.push(...(segment.plan?.decisions ?? []));
            results.push(...segment.results);
          },
        },
      },
    );
    plans.push({ name: ds.name, shape: run.resolved.shape, decisions });
  }
  return { plans, results };
}

/**
 * Throws unless `dir` is empty of what the demo replaces or holds an earlier demo: the demo deletes
 * primary.db, replica.db and state.db there and writes concord.yaml, so `demo --dir .` in a project would
 * have deleted its state file (the audit log) and replaced its config.
 */
function refuseNonDemoFiles(dir: string, given: string): void {
  const config = join(dir, "concord.yaml");
  let text: string | undefined;
  try {
    text = readFileSync(config, "utf8");
  } catch {
    // no config there (or no folder yet)
  }
  const theirs =
    text !== undefined
      ? text.startsWith(DEMO_CONFIG_HEAD)
        ? []
        : ["concord.yaml"]
      : DEMO_FILES.filter((f) => existsSync(join(dir, f)));
  if (theirs.length)
    throw new UsageError(
      `demo --dir ${given}: holds ${theirs.join(", ")} of no demo, which the demo would replace: choose an empty folder (or an earlier demo's)`,
    );
}

export async function runDemo(options: DemoOptions, io: CliIo = processIo()): Promise<number> {
  const { cwd } = io;
  const out = (s = "") => io.stdout.write(`${s}\n`);
  let layout: ReturnType<typeof createDemo>;
  refuseNonDemoFiles(resolve(cwd, options.dir), options.dir);
  try {
    layout = createDemo(resolve(cwd, options.dir), Date.now());
  } catch (err) {
    // A directory that cannot be made or written (a file in the way, no permission, a full disk).
    const code = (err as { code?: unknown }).code;
    if (typeof code !== "string") throw err;
    throw new UsageError(
      `demo --dir ${options.dir}: cannot create the demo there (${(err as Error).message})`,
    );
  }
  const cfg = relative(cwd, layout.config) || layout.config;
  out("Concord demo: a shop database kept in two SQLite replicas");
  out(
    `  ${relative(cwd, layout.primary)} and ${relative(cwd, layout.replica)}: customers (5,000 rows), products (400), settings (15)`,
  );
  out(
    "  Seeded drift: lost and extra rows, stale and conflicting updates, a backup restore, rounding noise,",
  );
  out("  writes still replicating, a column added on one side, and a table with no version metadata.");
  out(
    `  Policies: ${cfg} (customers: owner primary + highest version; products: last writer wins; settings: none)`,
  );
  out();

  const first = await openSession({ config: layout.config }, { readonly: true }, io);
  try {
    await scanAll(first);
  } finally {
    await first.close();
  }
  out("1. A first scan records the versions each replica holds.");
  restoreOldBackup(layout);
  out("   Then the replica is restored from an old backup: customer 77 goes back two versions.");
  out();

  const session = await openSession({ config: layout.config }, { readonly: false }, io);
  try {
    const scans = await scanAll(session);
    out("2. Scan: what differs, and what kind of difference it is.");
    out();
    out(scans.map((s) => renderRun(s, 25)).join("\n\n"));
    out();

    const { plans, results } = await reconcile(session);
    out(
      "3. Plan and repair: each divergence decided by its dataset's policy, written conditionally, re-read.",
    );
    for (const plan of plans) {
      out(`   ${plan.name}: ${count(plan.decisions, (d) => d.action)}`);
      const example = plan.decisions.find((d) => d.action !== "ignore" && d.action !== "wait");
      if (example) {
        out(
          `     e.g. key ${keyToJson(plan.shape.key, example.key).join(",")}: ${example.action} [${example.rule}] ${example.reason}`,
        );
      }
    }
    out(`   Repairs: ${count(results, (r) => r.outcome)}`);
    out();

    const again = await reconcile(session);
    const wrote = again.results.filter((r) => r.outcome === "applied").length;
    out(
      `4. Repair again: ${wrote === 0 ? "nothing left to write (a second run applies nothing)" : `${wrote} more applied`}.`,
    );
    out(
      "   In-flight changes wait for the window (30s) to pass; tolerated noise is recorded, never written.",
    );
    out();

    const open = await session.state.listEscalations({ status: "open" });
    out(`5. Left for a person: ${open.length} escalation${open.length === 1 ? "" : "s"}`);
    for (const e of open)
      out(`   ${e.id}  ${e.dataset}${e.key.length ? ` ${keyText(e.key)}` : ""}  ${e.class}: ${e.reason}`);
    out();

    const verdict = await verifyAuditChainAsync(session.state.iterateAudit());
    out(
      `6. Audit log: ${verdict.ok ? `${verdict.count} entries, hash chain intact` : `BROKEN: ${verdict.problem}`} (every detection, decision and write).`,
    );
    out();
    // Installed (npm install -g, or a dependency) the bin is on the PATH; in a clone of the repository,
    // npx finds the clone's own.
    const cli = fileURLToPath(import.meta.url)
      .split(sep)
      .includes("node_modules")
      ? "concord"
      : "npx concord";
    out("Try it yourself:");
    out(`  ${cli} scan -c ${cfg}`);
    out(`  ${cli} escalations list -c ${cfg}`);
    if (open[0]?.options.length) out(`  ${cli} escalations resolve ${open[0].id} --pick primary -c ${cfg}`);
    out(`  ${cli} audit show -c ${cfg} --key 77`);
    out(`  ${cli} rollback -c ${cfg} --run <run id from audit show>`);
    out(`  CONCORD_TOKEN=<16+ characters> ${cli} serve -c ${cfg}   # dashboard at http://127.0.0.1:7070/`);
    return verdict.ok ? EXIT.ok : EXIT.audit;
  } finally {
    await session.close();
  }
}
