/**
 * `concord plan --candidate FILE [--run ID]`: the policy sandbox. Decides the divergences found now (or the
 * keys a recorded run found diverging, read again) under the live and the candidate policy side by side and
 * reports every disagreement. Writes nothing: no replica, and no state (the run is kept in memory).
 */
import { loadCandidatePolicy } from "../config/load-candidate.js";
import type { Disagreement } from "../core/compare-decisions.js";
import type { Decision } from "../core/decide.js";
import { keyToJson } from "../core/model.js";
import { printable } from "../core/printable.js";
import { comparePolicies, type PolicyComparison } from "../engine/compare-policies.js";
import { SandboxStateStore } from "../state/sandbox-state-store.js";
import { EXIT } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { type JsonSpill, SpillDir } from "./json-spill.js";
import { actionText } from "./plan.js";
import { createProgress } from "./progress.js";
import { writeJson } from "./run-json.js";
import { type DataCommandOptions, newRunId, openSession, recheckKeys } from "./session.js";
import { textTable } from "./text-table.js";

export interface CandidateOptions extends DataCommandOptions {
  /** The candidate policy file (a `policy:` block). */
  readonly candidate: string;
  /** Decide the keys this recorded run found diverging (read again now) instead of scanning. */
  readonly run?: string | undefined;
}

/** How many disagreements the text report lists per dataset; JSON lists all. */
const SHOWN = 25;

function side(d: Decision) {
  return { action: d.action, source: d.source ?? null, targets: d.targets, rule: d.rule, reason: d.reason };
}

interface Compared extends PolicyComparison {
  readonly name: string;
  readonly spill: JsonSpill;
  readonly shown: { key: string; class: string; live: Decision; candidate: Decision }[];
}

export async function runPlanCandidate(options: CandidateOptions, io: CliIo = processIo()): Promise<number> {
  const session = await openSession(options, { readonly: true, state: "if-exists" }, io);
  const spills = new SpillDir({ keep: options.json === true });
  const progress = createProgress(io.stderr);
  // The run goes to memory; the real store is only read (versions last seen, evidence, the recorded run's
  // keys), and not even created when it does not exist yet (the session then reads an empty one).
  const sandbox = SandboxStateStore.over(session.state);
  try {
    const candidates = loadCandidatePolicy(
      options.candidate,
      options.config,
      session.datasets.map((d) => d.name),
      io.env,
      io.cwd,
    );
    const targets = options.run ? await recheckKeys(session, options.run) : undefined;
    const runId = newRunId();
    const results: Compared[] = [];
    for (const ds of session.datasets) {
      const keys = targets?.get(ds.name);
      if (targets && !keys) continue;
      const spill = spills.spill();
      const shown: Compared["shown"] = [];
      const compared = await comparePolicies(
        ds,
        await session.replicas(ds),
        { state: sandbox, now: Date.now },
        { policy: candidates.get(ds.name)!, where: `${options.candidate}: datasets.${ds.name}.policy` },
        {
          runId,
          command: "plan --candidate",
          keys,
          onProgress: (label, done, total, estimate) => progress.update(label, done, total, estimate),
          onDisagreements: (shape, list: readonly Disagreement[]) => {
            for (const { live, candidate } of list) {
              const key = keyToJson(shape.key, live.key);
              spill.push(() => ({ key, class: live.class, live: side(live), candidate: side(candidate) }));
              if (shown.length < SHOWN)
                shown.push({ key: printable(key.join(",")), class: live.class, live, candidate });
            }
          },
        },
      );
      progress.clear();
      results.push({ ...compared, name: ds.name, spill, shown });
    }
    if (options.json) {
      const arrays = new Map<string, Iterable<unknown>>();
      const datasets = results.map((r) => {
        const marker = `@@spill:${arrays.size}@@`;
        arrays.set(marker, r.spill.values());
        return {
          name: r.name,
          live: r.live,
          candidate: r.candidate,
          agree: r.agree,
          disagree: r.disagree,
          disagreements: marker,
        };
      });
      await writeJson(
        io.stdout,
        jsonDoc({ candidate: options.candidate, run: options.run ?? null, datasets }),
        arrays,
      );
    } else io.stdout.write(`${results.map(render).join("\n\n")}\n`);
    return results.some((r) => r.disagree > 0) ? EXIT.diverged : EXIT.ok;
  } finally {
    progress.clear();
    spills.dispose();
    await sandbox.close();
    await session.close();
  }
}

function render(r: Compared): string {
  const lines = [
    `${printable(r.name)}: live policy ${r.live.policyVersion} vs candidate ${r.candidate.policyVersion}: ${r.agree} agree, ${r.disagree} disagree (nothing written)`,
  ];
  for (const [who, guard] of [
    ["live", r.live.guard],
    ["candidate", r.candidate.guard],
  ] as const)
    if (guard) lines.push(`  ${who} GUARD: ${printable(guard.reason)}`);
  if (r.shown.length) {
    const rows = r.shown.flatMap((d) => [
      [
        d.key,
        d.class,
        "live",
        printable(actionText(d.live)),
        printable(d.live.rule),
        printable(d.live.reason),
      ],
      [
        "",
        "",
        "candidate",
        printable(actionText(d.candidate)),
        printable(d.candidate.rule),
        printable(d.candidate.reason),
      ],
    ]);
    lines.push(textTable([["KEY", "CLASS", "POLICY", "ACTION", "RULE", "REASON"], ...rows], "  "));
    if (r.disagree > r.shown.length)
      lines.push(`  … ${r.disagree - r.shown.length} more (use --json for all)`);
  }
  return lines.join("\n");
}
