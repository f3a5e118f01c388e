/** `concord escalations resolve`: one escalation by id, or every open one matching filters, after confirmation. */

import { printable } from "../core/printable.js";
import {
  previewMatching,
  type Resolution,
  ResolveError,
  type ResolveOutcome,
  resolveEscalation,
  resolveMatching,
} from "../engine/resolve-escalation.js";
import { cliActor } from "./actor.js";
import { EXIT, UsageError } from "./errors.js";
import { type EscalationFilterOptions, filterOf } from "./escalations.js";
import { type CliIo, confirm, keptWarnings, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { SpillDir } from "./json-spill.js";
import { writeJson } from "./run-json.js";
import { newRunId, openSession } from "./session.js";
import { stopSignals } from "./stop-signals.js";
import { plural } from "./text-table.js";

export interface ResolveOptions extends EscalationFilterOptions {
  readonly pick?: string | undefined;
  readonly reject?: boolean | undefined;
  /** Resolve every open escalation matching the filters (instead of one by id). */
  readonly allMatching?: boolean | undefined;
  /** Skip the confirmation of --all-matching. */
  readonly yes?: boolean | undefined;
}

/**
 * Resolves one open escalation, or with --all-matching every open one matching the filters. `--reject`
 * closes without writing; `--pick R` makes R's state win through the same conditional path as any repair,
 * only where every replica still holds what was escalated (otherwise nothing is written and the next run
 * re-detects the key). Exit 0 when everything asked was resolved, 1 when some stay open.
 */
export async function runEscalationsResolve(
  id: string | undefined,
  options: ResolveOptions,
  io: CliIo = processIo(),
): Promise<number> {
  if (!!options.pick === !!options.reject)
    throw new UsageError("escalations resolve: give exactly one of --pick REPLICA or --reject");
  const filtered = [options.dataset, options.class, options.column, options.replica, options.group].some(
    (f) => f !== undefined,
  );
  if (options.allMatching) {
    if (id !== undefined) throw new UsageError("escalations resolve: give an id or --all-matching, not both");
    return resolveAll(options, io);
  }
  if (id === undefined)
    throw new UsageError("escalations resolve: give the escalation's id, or --all-matching with filters");
  if (filtered || options.yes)
    throw new UsageError(
      "escalations resolve: filters and --yes go with --all-matching (an id names one escalation)",
    );
  return resolveOne(id, options, io);
}

async function resolveOne(id: string, options: ResolveOptions, io: CliIo): Promise<number> {
  const { stdout } = io;
  const session = await openSession({ config: options.config }, { readonly: false }, io);
  // Recovery's warnings (Recovery.warnings): on stderr as they come, and in the JSON document as repair's.
  const { warnings, warn } = keptWarnings(io.stderr);
  try {
    let out: ResolveOutcome;
    try {
      out = await resolveEscalation(id, options.reject ? { reject: true } : { pick: options.pick! }, {
        datasets: session.config.datasets,
        state: session.state,
        replicas: (ds) => session.replicas(ds),
        runId: newRunId(),
        by: cliActor(io),
        warn,
      });
    } catch (err) {
      if (err instanceof ResolveError)
        throw new UsageError(`${err.kind === "bad-choice" ? "--" : "escalations resolve: "}${err.message}`);
      throw err;
    }
    await session.anchorAudit();
    if (out.status === "rejected") {
      stdout.write(
        options.json
          ? `${JSON.stringify(jsonDoc({ id, status: "rejected", warnings }))}\n`
          : `Escalation ${id} rejected; nothing written.\n`,
      );
      return EXIT.ok;
    }
    if (out.note) {
      stdout.write(
        options.json
          ? `${JSON.stringify(jsonDoc({ id, status: out.status, note: out.note, warnings }))}\n`
          : `Escalation ${id}: ${out.note}; nothing written.${out.status === "open" ? " Run repair again to re-evaluate." : ""}\n`,
      );
      return out.status === "open" ? EXIT.diverged : EXIT.ok;
    }
    const ok = out.status === "resolved";
    if (options.json) {
      stdout.write(
        `${JSON.stringify(
          jsonDoc({
            id,
            status: out.status,
            repairs: out.repairs.map((r) => ({
              id: r.id,
              key: out.keyJson,
              target: r.target,
              outcome: r.outcome,
            })),
            warnings,
          }),
          null,
          2,
        )}\n`,
      );
    } else {
      stdout.write(
        `Escalation ${id}: ${printable(options.pick!)}'s state ${ok ? "now holds on every replica" : "could not be written everywhere"}.\n`,
      );
      for (const r of out.repairs)
        stdout.write(`  ${printable(r.target)}: ${r.outcome}${r.error ? ` (${printable(r.error)})` : ""}\n`);
    }
    return ok ? EXIT.ok : EXIT.diverged;
  } finally {
    await session.close();
  }
}

/** How many of the escalations left open a readable report lists. */
const SHOWN_OPEN = 20;

async function resolveAll(options: ResolveOptions, io: CliIo): Promise<number> {
  const { stdout, stderr } = io;
  const choice: Resolution = options.reject ? { reject: true } : { pick: options.pick! };
  const doing = options.reject
    ? "reject them (nothing written)"
    : `make ${printable(options.pick!)}'s state win`;
  const session = await openSession({ config: options.config }, { readonly: false }, io);
  const spills = new SpillDir({ keep: options.json === true });
  const abort = stopSignals(stderr, "page");
  const { warnings, warn } = keptWarnings(stderr);
  try {
    const replicaNames = [...new Set(session.config.datasets.flatMap((x) => x.replicas.map((y) => y.name)))];
    // A pick no dataset has a replica of is a typo: refused before anything matches (or not), as for one id.
    if (options.pick !== undefined && !replicaNames.includes(options.pick))
      throw new UsageError(
        `--pick ${printable(options.pick)}: no replica named "${printable(options.pick)}" in the config (have: ${replicaNames.map(printable).join(", ")})`,
      );
    const filter = await filterOf(
      options,
      session.state,
      "open",
      session.config.datasets.map((x) => x.name),
      replicaNames,
    );
    // An unknown group matches nothing: no dataset has an empty name.
    const preview = await previewMatching(session.state, filter ?? { dataset: "" }, choice);
    if (preview.count === 0) {
      stdout.write(
        options.json
          ? `${JSON.stringify(jsonDoc({ matched: 0, resolved: 0, rejected: 0, open: 0, repairs: {}, outcomes: [], warnings }), null, 2)}\n`
          : "No open escalations match; nothing to resolve.\n",
      );
      return EXIT.ok;
    }
    if (!options.yes) {
      const answer = await confirm(
        io,
        `${plural(preview.count, "open escalation")} match${preview.count === 1 ? "es" : ""}: ${doing} for all of them? Each write is conditional and audited.`,
      );
      if (answer === undefined)
        throw new UsageError(
          `${plural(preview.count, "open escalation")} match; add --yes to resolve them all (stdin is not a terminal to confirm on)`,
        );
      if (!answer) {
        stderr.write("concord: not confirmed; nothing written\n");
        return EXIT.usage;
      }
    }
    abort.listen();
    const outcomes = spills.spill();
    const left: ResolveOutcome[] = [];
    const summary = await resolveMatching(
      filter ?? { dataset: "" },
      choice,
      {
        datasets: session.config.datasets,
        state: session.state,
        replicas: (ds) => session.replicas(ds),
        runId: newRunId(),
        by: cliActor(io),
        warn,
      },
      {
        confirm: { token: preview.token },
        signal: abort.signal,
        onOutcome: (o) => {
          outcomes.push(() => ({
            id: o.id,
            dataset: o.dataset,
            key: o.keyJson,
            status: o.status,
            ...(o.note ? { note: o.note } : {}),
            repairs: o.repairs.map((r) => ({ id: r.id, target: r.target, outcome: r.outcome })),
          }));
          if (o.status === "open" && left.length < SHOWN_OPEN) left.push(o);
        },
      },
    );
    await session.anchorAudit();
    const interrupted = abort.signal.aborted && summary.matched < preview.count;
    if (options.json) {
      await writeJson(
        stdout,
        jsonDoc({ ...summary, interrupted, outcomes: "@@spill:0@@", warnings }),
        new Map([["@@spill:0@@", outcomes.values()]]),
      );
    } else {
      const repairs = Object.entries(summary.repairs).map(([k, n]) => `${k} ${n}`);
      stdout.write(
        `${plural(summary.matched, "escalation")} of ${preview.count}: ${summary.resolved} resolved, ${summary.rejected} rejected, ${summary.open} left open${repairs.length ? `; repairs: ${repairs.join(" · ")}` : ""}.\n`,
      );
      for (const o of left)
        stdout.write(
          `  ${o.id}  ${printable(o.dataset)} ${printable(o.keyJson.join(","))}: ${printable(o.note ?? "a write did not verify")}\n`,
        );
      if (summary.open > left.length)
        stdout.write(`  … ${summary.open - left.length} more left open (--json lists all)\n`);
      if (interrupted)
        stdout.write(`interrupted: ${preview.count - summary.matched} not attempted (run again to finish)\n`);
    }
    if (interrupted) return abort.exitCode();
    return summary.open > 0 ? EXIT.diverged : EXIT.ok;
  } catch (err) {
    if (err instanceof ResolveError) throw new UsageError(`escalations resolve: ${err.message}`);
    throw err;
  } finally {
    abort.dispose();
    spills.dispose();
    await session.close();
  }
}
