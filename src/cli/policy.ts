/** `concord policy history|show|diff`: the policy versions each dataset ran under, read from the state store. */
import { parse, stringify } from "yaml";
import type { PolicyConfig } from "../config/load-config.js";
import { policyBlock } from "../config/policy-block.js";
import { diffLines, formatDiff } from "../core/line-diff.js";
import { printable } from "../core/printable.js";
import type { CurrentPolicy, PolicyVersion } from "../state/state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { openSession, type Session } from "./session.js";
import { textTable } from "./text-table.js";

export interface PolicyOptions {
  readonly config: string;
  readonly dataset?: string | undefined;
  readonly json?: boolean | undefined;
  /** `show`: the version as a config block (`datasets.<name>.policy`, a `plan --candidate` file). */
  readonly block?: boolean | undefined;
}

const when = (at: number) => new Date(at).toISOString();

/** Multi-line text made printable line by line (the line breaks kept). */
const printableLines = (text: string) => text.split("\n").map(printable).join("\n");

function versionJson(v: PolicyVersion, current: CurrentPolicy | undefined) {
  return {
    version: v.version,
    current: current?.policy.version === v.version,
    firstUsedAt: when(v.firstUsedAt),
    firstUsedBy: v.firstUsedBy,
    firstRunId: v.firstRunId,
    source: v.source,
  };
}

/** The datasets a policy command covers: -d NAME (known to the config or the registry), else every one with history. */
async function datasetsOf(session: Session, name: string | undefined): Promise<string[]> {
  const all = await session.state.listPolicies();
  const withHistory = [...new Set(all.map((v) => v.dataset))];
  if (name === undefined) return withHistory;
  if (!withHistory.includes(name) && !session.config.datasets.some((d) => d.name === name))
    throw new UsageError(
      `-d ${name}: no dataset named "${name}" in ${session.config.path} or the policy registry`,
    );
  return [name];
}

/** The one dataset `show` and `diff` are about: -d, else the only one with history (or in the config). */
async function oneDataset(session: Session, name: string | undefined, command: string): Promise<string> {
  const names = await datasetsOf(session, name);
  if (names.length === 1) return names[0]!;
  if (names.length === 0) {
    if (session.config.datasets.length === 1) return session.config.datasets[0]!.name;
    throw new UsageError(`policy ${command}: no dataset has run a repair under a policy yet`);
  }
  throw new UsageError(
    `policy ${command}: several datasets have policy history (${names.join(", ")}); pick one with -d`,
  );
}

/** A version of the dataset by its hash (a unique prefix of at least 4 digits will do). */
async function versionOf(session: Session, dataset: string, given: string): Promise<PolicyVersion> {
  const versions = await session.state.listPolicies(dataset);
  const exact = versions.find((v) => v.version === given);
  if (exact) return exact;
  const matches = given.length >= 4 ? versions.filter((v) => v.version.startsWith(given)) : [];
  if (matches.length === 1) return matches[0]!;
  throw new UsageError(
    matches.length > 1
      ? `policy version ${given}: matches ${matches.length} versions of ${dataset}; give more digits`
      : `policy version ${given}: ${dataset} never ran under it (see concord policy history -d ${dataset})`,
  );
}

/** Every version each dataset ran under, oldest first, the current one marked. */
export async function runPolicyHistory(options: PolicyOptions, io: CliIo = processIo()): Promise<number> {
  const session = await openSession({ config: options.config }, { readonly: true, state: "if-exists" }, io);
  try {
    const datasets = [];
    for (const name of await datasetsOf(session, options.dataset)) {
      const current = await session.state.currentPolicy(name);
      const versions = await session.state.listPolicies(name);
      datasets.push({ name, current, versions });
    }
    if (options.json) {
      const doc = jsonDoc({
        datasets: datasets.map(({ name, current, versions }) => ({
          name,
          current: current?.policy.version ?? null,
          adoptedAt: current ? when(current.adoptedAt) : null,
          previous: current?.previous?.version ?? null,
          versions: versions.map((v) => versionJson(v, current)),
        })),
      });
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      return EXIT.ok;
    }
    if (datasets.length === 0) {
      io.stdout.write("No policy history yet: a dataset's policy is recorded by its first repair run.\n");
      return EXIT.ok;
    }
    const blocks = datasets.map(({ name, current, versions }) => {
      const rows = versions.map((v) => [
        current?.policy.version === v.version ? "*" : "",
        v.version,
        when(v.firstUsedAt),
        printable(v.firstUsedBy),
        printable(v.firstRunId),
        printable(v.source),
      ]);
      const since = current ? ` (current ${current.policy.version} since ${when(current.adoptedAt)})` : "";
      return `${printable(name)}${since}\n${textTable([["", "VERSION", "FIRST USED", "BY", "RUN", "FROM"], ...rows], "  ")}`;
    });
    io.stdout.write(`${blocks.join("\n\n")}\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** One version's full text (the current one by default). */
export async function runPolicyShow(
  version: string | undefined,
  options: PolicyOptions,
  io: CliIo = processIo(),
): Promise<number> {
  // --json would be ignored and a YAML block printed where a script waits for a JSON document.
  if (options.block && options.json) throw new UsageError("policy show: give --block or --json, not both");
  const session = await openSession({ config: options.config }, { readonly: true, state: "if-exists" }, io);
  try {
    const dataset = await oneDataset(session, options.dataset, "show");
    const current = await session.state.currentPolicy(dataset);
    const v = version !== undefined ? await versionOf(session, dataset, version) : current?.policy;
    if (!v) throw new UsageError(`policy show: ${dataset} has no policy history yet`);
    if (options.block) {
      // The kept text is the normalised form the version hashes (windowMs, tolerance kinds); a config
      // takes the written form, which loads back to the same declaration and so the same version.
      const declared = (parse(v.text) as { policy?: Partial<PolicyConfig> | null }).policy ?? {};
      const block = policyBlock({ merge: {}, tolerance: {}, limits: {}, ...declared });
      io.stdout.write(
        `# ${printable(dataset)} policy ${v.version}: put under datasets.${printable(dataset)}.policy, or give to plan --candidate\n${printableLines(stringify(block))}`,
      );
      return EXIT.ok;
    }
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify(jsonDoc({ dataset, ...versionJson(v, current), text: v.text }), null, 2)}\n`,
      );
      return EXIT.ok;
    }
    io.stdout.write(
      `# ${printable(dataset)} policy ${v.version}${current?.policy.version === v.version ? " (current)" : ""}: first used ${when(v.firstUsedAt)} by ${printable(v.firstUsedBy)} in run ${printable(v.firstRunId)}, from ${printable(v.source)}\n${printableLines(v.text)}`,
    );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/**
 * The line diff between two versions: FROM and TO given, FROM against the current one, or (neither) the
 * current one against the version it replaced. Exit 0 when they are the same text, 1 when they differ.
 */
export async function runPolicyDiff(
  from: string | undefined,
  to: string | undefined,
  options: PolicyOptions,
  io: CliIo = processIo(),
): Promise<number> {
  const session = await openSession({ config: options.config }, { readonly: true, state: "if-exists" }, io);
  try {
    const dataset = await oneDataset(session, options.dataset, "diff");
    const current = await session.state.currentPolicy(dataset);
    if (!current) throw new UsageError(`policy diff: ${dataset} has no policy history yet`);
    const after = to !== undefined ? await versionOf(session, dataset, to) : current.policy;
    const before = from !== undefined ? await versionOf(session, dataset, from) : current.previous;
    if (!before)
      throw new UsageError(
        `policy diff: ${dataset} has run under one policy only (${current.policy.version}); give two versions to compare`,
      );
    const lines = diffLines(before.text, after.text);
    const changed = lines.some((l) => l.op !== " ");
    if (options.json) {
      const doc = jsonDoc({
        dataset,
        from: versionJson(before, current),
        to: versionJson(after, current),
        changed,
        diff: lines.map((l) => `${l.op} ${l.text}`),
      });
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      io.stdout.write(
        `--- ${printable(dataset)} ${before.version} (first used ${when(before.firstUsedAt)} by ${printable(before.firstUsedBy)})\n+++ ${printable(dataset)} ${after.version} (first used ${when(after.firstUsedAt)} by ${printable(after.firstUsedBy)})\n${printableLines(formatDiff(lines))}\n`,
      );
    }
    return changed ? EXIT.diverged : EXIT.ok;
  } finally {
    await session.close();
  }
}
