/** `concord demo` (what `npm start` runs): builds two drifted SQLite replicas and reconciles them, narrating each step. */
import { relative } from "node:path";
import { createDemo, restoreOldBackup } from "../demo/create-demo.js";
import { EXIT } from "./errors.js";
import { renderScan } from "./render-scan.js";
import { needsRepair, scanSession } from "./scan.js";
import { newRunId, openSession } from "./session.js";

export interface DemoOptions {
  readonly dir: string;
}

export async function runDemo(
  options: DemoOptions,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const out = (s = "") => stdout.write(`${s}\n`);
  const layout = createDemo(options.dir, Date.now());
  const cfg = relative(process.cwd(), layout.config) || layout.config;
  out("Concord demo: a shop database kept in two SQLite replicas");
  out(
    `  ${relative(process.cwd(), layout.primary)} and ${relative(process.cwd(), layout.replica)}: customers (5,000 rows), products (400), settings (15)`,
  );
  out(
    "  Seeded drift: lost and extra rows, stale and conflicting updates, a backup restore, rounding noise,",
  );
  out("  writes still replicating, a column added on one side, and a table with no version metadata.");
  out();

  const first = await openSession({ config: layout.config }, { readonly: true });
  try {
    await scanSession(first, newRunId(), "scan");
  } finally {
    await first.close();
  }
  out("1. First scan done; Concord remembers the versions it saw.");
  restoreOldBackup(layout);
  out("2. The replica is restored from an old backup: customer 77 goes back two versions.");
  out();

  const session = await openSession({ config: layout.config }, { readonly: true });
  try {
    const scans = await scanSession(session, newRunId(), "scan");
    out("3. Scan:");
    out();
    out(scans.map((s) => renderScan(s, 25)).join("\n\n"));
    out();
    out("Nothing was written to either replica. Try it yourself:");
    out(`  npx concord scan -c ${cfg}`);
    out(`  npx concord scan -c ${cfg} --json -d customers`);
    return scans.some(needsRepair) ? EXIT.ok : EXIT.ok;
  } finally {
    await session.close();
  }
}
