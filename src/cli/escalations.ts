/** `concord escalations list|resolve`: the queue of divergences the policy would not decide alone. */
import { decidePick } from "../core/decide.js";
import { keyId, keyToJson } from "../core/model.js";
import { datasetPolicy, observeKeys, runRepairTasks } from "../engine.js";
import { planRepairTasks } from "../execute/execute-repairs.js";
import type { Escalation } from "../state/state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { newRunId, openSession } from "./session.js";

export interface EscalationOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly all?: boolean | undefined;
}

function escalationJson(e: Escalation): Record<string, unknown> {
  // Recorded with the key-column types (engine.recordPlan); guessing from the text would turn "0042" into 42.
  const keyJson = (e.detail as { keyJson?: unknown } | null)?.keyJson;
  return {
    id: e.id,
    dataset: e.dataset,
    key: Array.isArray(keyJson)
      ? keyJson
      : e.key.map((k) => (/^-?\d+$/.test(k) && Number.isSafeInteger(Number(k)) ? Number(k) : k)),
    class: e.class,
    reason: e.reason,
    options: e.options,
    status: e.status,
    runId: e.runId,
    createdAt: new Date(e.createdAt).toISOString(),
  };
}

export async function runEscalationsList(
  options: EscalationOptions,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const session = await openSession({ config: options.config }, { readonly: true });
  try {
    const list = await session.state.listEscalations(options.all ? {} : { status: "open" });
    if (options.json) {
      stdout.write(`${JSON.stringify({ escalations: list.map(escalationJson) }, null, 2)}\n`);
    } else if (list.length === 0) {
      stdout.write("No open escalations.\n");
    } else {
      for (const e of list) {
        const key = e.key.length ? ` key ${e.key.join(",")}` : "";
        stdout.write(
          `${e.id}  ${e.dataset}${key}  ${e.class}${e.status !== "open" ? ` (${e.status})` : ""}\n    ${e.reason}\n`,
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
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  if (!!options.pick === !!options.reject)
    throw new UsageError("escalations resolve: give exactly one of --pick REPLICA or --reject");
  const session = await openSession({ config: options.config }, { readonly: false });
  try {
    const e = await session.state.getEscalation(id);
    if (!e) throw new UsageError(`escalations resolve: no escalation with id ${id}`);
    if (e.status !== "open")
      throw new UsageError(`escalations resolve: escalation ${id} is already ${e.status}`);
    const runId = newRunId();
    const at = Date.now();
    if (options.reject) {
      await session.state.closeEscalation(id, "rejected", { by: "cli" }, at);
      await session.state.appendAudit([
        {
          ts: at,
          runId,
          type: "rejected",
          dataset: e.dataset,
          key: e.key.length ? keyId(e.key) : null,
          data: { escalation: id },
        },
      ]);
      stdout.write(
        options.json
          ? `${JSON.stringify({ id, status: "rejected" })}\n`
          : `Escalation ${id} rejected; nothing written.\n`,
      );
      return EXIT.ok;
    }
    const pick = options.pick!;
    if (!e.options.includes(pick)) {
      throw new UsageError(
        `--pick ${pick}: not an option for escalation ${id} (options: ${e.options.join(", ") || "none"})`,
      );
    }
    const ds = session.config.datasets.find((d) => d.name === e.dataset);
    if (!ds)
      throw new UsageError(
        `escalation ${id} belongs to dataset ${e.dataset}, which the config no longer declares`,
      );
    const replicas = await session.replicas(ds);
    const { resolved, divergences } = await observeKeys(ds, replicas, [e.key], at);
    const div = divergences.get(keyId(e.key));
    const observed = (e.detail as { observed?: Record<string, string | null> }).observed ?? {};
    const unchanged =
      div &&
      Object.entries(observed).every(
        ([r, fp]) => (div.replicas[r]?.present ? (div.replicas[r]!.fingerprint ?? null) : null) === fp,
      );
    if (!div || !unchanged) {
      const why = div ? "the record changed since it was escalated" : "the replicas agree now";
      if (!div) await session.state.closeEscalation(id, "resolved", { by: "cli", pick, note: why }, at);
      stdout.write(
        options.json
          ? `${JSON.stringify({ id, status: div ? "open" : "resolved", note: why })}\n`
          : `Escalation ${id}: ${why}; nothing written.${div ? " Run repair again to re-evaluate." : ""}\n`,
      );
      return div ? EXIT.diverged : EXIT.ok;
    }
    const policy = datasetPolicy(ds, resolved);
    const decision = decidePick(div, policy, pick);
    const tasks = planRepairTasks(ds.name, [decision], divergences);
    const results = await runRepairTasks(
      ds.name,
      tasks,
      replicas,
      resolved.shape,
      { runId, state: session.state, now: Date.now },
      { writesPerSecond: policy.limits.writesPerSecond },
    );
    const ok = results.every((r) => r.outcome === "applied" || r.outcome === "noop");
    if (ok)
      await session.state.closeEscalation(
        id,
        "resolved",
        { by: "cli", pick, repairs: results.map((r) => r.id) },
        Date.now(),
      );
    await session.state.appendAudit([
      {
        ts: Date.now(),
        runId,
        type: "resolved",
        dataset: ds.name,
        key: keyId(e.key),
        data: {
          escalation: id,
          pick,
          ok,
          repairs: results.map((r) => ({ id: r.id, target: r.target, outcome: r.outcome })),
        },
      },
    ]);
    if (options.json) {
      stdout.write(
        `${JSON.stringify({ id, status: ok ? "resolved" : "open", repairs: results.map((r) => ({ id: r.id, key: keyToJson(resolved.shape.key, r.key), target: r.target, outcome: r.outcome })) }, null, 2)}\n`,
      );
    } else {
      stdout.write(
        `Escalation ${id}: ${pick}'s state ${ok ? "now holds on every replica" : "could not be written everywhere"}.\n`,
      );
      for (const r of results) stdout.write(`  ${r.target}: ${r.outcome}${r.error ? ` (${r.error})` : ""}\n`);
    }
    return ok ? EXIT.ok : EXIT.diverged;
  } finally {
    await session.close();
  }
}
