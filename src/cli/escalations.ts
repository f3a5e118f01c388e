/** `concord escalations list|resolve`: the queue of divergences the policy would not decide alone. */
import { escalationView } from "../engine/escalation-view.js";
import { ResolveError, type ResolveOutcome, resolveEscalation } from "../engine/resolve-escalation.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { printable } from "./printable.js";
import { newRunId, openSession } from "./session.js";

export interface EscalationOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly all?: boolean | undefined;
}

export async function runEscalationsList(
  options: EscalationOptions,
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  const session = await openSession({ config: options.config }, { readonly: true }, io);
  try {
    const list = await session.state.listEscalations(options.all ? {} : { status: "open" });
    if (options.json) {
      stdout.write(`${JSON.stringify({ escalations: list.map(escalationView) }, null, 2)}\n`);
    } else if (list.length === 0) {
      stdout.write("No open escalations.\n");
    } else {
      for (const e of list) {
        const key = e.key.length ? ` key ${printable(e.key.join(","))}` : "";
        stdout.write(
          `${e.id}  ${e.dataset}${key}  ${e.class}${e.status !== "open" ? ` (${e.status})` : ""}\n    ${printable(e.reason)}\n`,
        );
        if (e.options.length)
          stdout.write(
            `    resolve: concord escalations resolve ${e.id} --pick ${e.options.join("|")}  (or --reject)\n`,
          );
      }
    }
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

export interface ResolveOptions {
  readonly config: string;
  readonly pick?: string | undefined;
  readonly reject?: boolean | undefined;
  readonly json?: boolean | undefined;
}

/**
 * Resolves an open escalation. `--reject` closes it without writing. `--pick R` makes R's state win,
 * through the same conditional path as any repair, but only if every replica still holds what was
 * escalated; otherwise nothing is written and the next run re-detects the key.
 */
export async function runEscalationsResolve(
  id: string,
  options: ResolveOptions,
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  if (!!options.pick === !!options.reject)
    throw new UsageError("escalations resolve: give exactly one of --pick REPLICA or --reject");
  const session = await openSession({ config: options.config }, { readonly: false }, io);
  try {
    let out: ResolveOutcome;
    try {
      out = await resolveEscalation(id, options.reject ? { reject: true } : { pick: options.pick! }, {
        datasets: session.config.datasets,
        state: session.state,
        replicas: (ds) => session.replicas(ds),
        runId: newRunId(),
        by: "cli",
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
          ? `${JSON.stringify({ id, status: "rejected" })}\n`
          : `Escalation ${id} rejected; nothing written.\n`,
      );
      return EXIT.ok;
    }
    if (out.note) {
      stdout.write(
        options.json
          ? `${JSON.stringify({ id, status: out.status, note: out.note })}\n`
          : `Escalation ${id}: ${out.note}; nothing written.${out.status === "open" ? " Run repair again to re-evaluate." : ""}\n`,
      );
      return out.status === "open" ? EXIT.diverged : EXIT.ok;
    }
    const ok = out.status === "resolved";
    if (options.json) {
      stdout.write(
        `${JSON.stringify({ id, status: out.status, repairs: out.repairs.map((r) => ({ id: r.id, key: out.keyJson, target: r.target, outcome: r.outcome })) }, null, 2)}\n`,
      );
    } else {
      stdout.write(
        `Escalation ${id}: ${options.pick}'s state ${ok ? "now holds on every replica" : "could not be written everywhere"}.\n`,
      );
      for (const r of out.repairs)
        stdout.write(`  ${r.target}: ${r.outcome}${r.error ? ` (${printable(r.error)})` : ""}\n`);
    }
    return ok ? EXIT.ok : EXIT.diverged;
  } finally {
    await session.close();
  }
}
