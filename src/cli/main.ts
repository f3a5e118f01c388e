/**
 * The `concord` command line: parses arguments, runs one command, returns its exit code. Never exits the
 * process, sets its exit code, or reads or writes anything of it but through the `CliIo` it is given.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { packageVersion } from "../package-version.js";
import { FAULT_KINDS } from "../sim/fault-kinds.js";
import { EXIT, reportError, UnfinishedError, UsageError } from "./errors.js";
import { type CliIo, type CliStream, processIo } from "./io.js";

export type { CliIo, CliStream } from "./io.js";

const VERSION = packageVersion();

/** Bold, for help headings (stripped where colour is off). */
const bold = (text: string) => `\x1b[1m${text}\x1b[22m`;

/** Shown after every command's help: what a script needs to know besides the flags. */
const MORE_HELP = `
${bold("Exit codes:")}
  0    the replicas agree, or the command did what was asked
  1    divergence remains (scan, plan, repair), or an escalation stays open
  2    usage, configuration or connection error (one line on stderr)
  3    audit verification failed (audit verify, audit anchor)
  130  interrupted (Ctrl-C); what was written is in the ledger and the audit log
  143  stopped by SIGTERM (docker stop, Kubernetes), as after Ctrl-C

${bold("Environment:")}
  CONCORD_TOKEN         the API token serve needs (else serve.token in the config)
  CONCORD_QUEUE         the job queue of serve --role coordinator and worker (else queue: in the config)
  CONCORD_HINTS_TOKEN   a read-only token for serve's /api/hints (else serve.hintsToken)
  CONCORD_DEBUG         also print the stack of an unexpected error
  NO_COLOR, FORCE_COLOR bold headings in help: off, or on even when not a terminal
  \${VAR} in the config file is read from the environment.

${bold("Config file:")}
  concord.yaml in the working directory, or -c PATH (state:, datasets:, serve:, alerts:, audit:).
  README.md "Configuration" describes it; --json documents: README.md "JSON output".`;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter(Boolean)];
}

/**
 * A dataset option that names one dataset: given twice (`-d a -d b`), or as a list (`-d a,b`, which the
 * commands taking several read as two), it is a usage error, not the last one taken silently.
 */
function oneDataset(value: string, previous: string | undefined): string {
  if (previous !== undefined)
    throw new InvalidArgumentError(`given twice (${previous}, ${value}): this command takes one dataset`);
  if (value.includes(","))
    throw new InvalidArgumentError(`"${value}" names several datasets: this command takes one`);
  return value;
}

function configOption(cmd: Command): Command {
  return cmd.addOption(new Option("-c, --config <path>", "configuration file").default("concord.yaml"));
}

function dataOptions(cmd: Command): Command {
  return configOption(cmd)
    .option("-d, --dataset <name>", "only this dataset (repeatable, or comma-separated)", collect)
    .option("--json", "print one JSON document on stdout")
    .option("--values", "show each divergent record's values on every replica, side by side (JSON: values)")
    .option(
      "--where <predicate>",
      "compare only the rows this SQL predicate holds, on every replica (ANDed with the config's where; SQL replicas only)",
    )
    .option(
      "--min-age <duration>",
      "only rows whose timestamp column (versions.timestamp) is at least this old (30m, 12h, 7d)",
    )
    .option("--max-age <duration>", "only rows whose timestamp column is at most this old");
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, " ");
}

/** Whether help text may be coloured on `stream`: NO_COLOR / FORCE_COLOR as commander reads them, else a colour TTY. */
function hasColors(stream: CliStream, env: CliIo["env"]): boolean {
  if (env.NO_COLOR || env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return false;
  if (env.FORCE_COLOR || env.CLICOLOR_FORCE !== undefined) return true;
  const tty = stream as CliStream & { hasColors?: () => boolean };
  return !!tty.isTTY && !!tty.hasColors?.();
}

/**
 * Runs the CLI with `argv` (as process.argv: the first two entries are skipped) and resolves to the exit
 * code; it never rejects. `io` replaces any of the process's stdout, stderr, environment and working
 * directory (see CliIo); a command run this way closes every store it opened before it resolves, so
 * several can run, one after another or at once, in one process.
 */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const cli: CliIo = { ...processIo(), ...io };
  let code: number = EXIT.ok;
  const program = new Command()
    .name("concord")
    .description(
      "Keeps replicas of the same data in agreement: detect, classify, decide, repair, verify, audit.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .addHelpText("afterAll", MORE_HELP)
    // Headings in bold; commander strips the escapes wherever hasColors (NO_COLOR, FORCE_COLOR, a TTY) says no.
    .configureHelp({ styleTitle: bold })
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (str) => cli.stdout.write(str),
      writeErr: (str) => cli.stderr.write(str),
      getOutHelpWidth: () => (cli.stdout.isTTY ? (cli.stdout.columns ?? 80) : 80),
      getErrHelpWidth: () => (cli.stderr.isTTY ? (cli.stderr.columns ?? 80) : 80),
      getOutHasColors: () => hasColors(cli.stdout, cli.env),
      getErrHasColors: () => hasColors(cli.stderr, cli.env),
      // One line, like every other error: commander puts its "(Did you mean …?)" hint on a second line.
      outputError: (str, write) => write(`concord: ${oneLine(str.replace(/^error: /, ""))}\n`),
    });

  dataOptions(
    program.command("scan").description("find and classify divergence between replicas (read-only)"),
  )
    .option("--limit <n>", "list at most n divergences per dataset (default 20; every one with --json)")
    .option(
      "--output <file>",
      "also write every divergence with its full rows to this diff file (JSON lines), for repair --from",
    )
    .action(async (opts) => {
      code = await (await import("./scan.js")).runScan(opts, cli);
    });

  dataOptions(
    program
      .command("plan")
      .description("scan and decide by policy; prints decisions with rule and reason, writes nothing"),
  )
    .option(
      "--candidate <file>",
      "the sandbox: decide under the live policy and this candidate (a policy: block) side by side; report disagreements",
    )
    .option(
      "--run <id>",
      "with --candidate: the keys this recorded run found diverging, read again, instead of a scan",
    )
    .action(async (opts) => {
      if (opts.candidate !== undefined) {
        code = await (await import("./plan-candidate.js")).runPlanCandidate(opts, cli);
        return;
      }
      if (opts.run !== undefined)
        throw new UsageError(
          "plan: --run goes with --candidate (to re-check a run's keys: concord recheck --run)",
        );
      code = await (await import("./plan.js")).runPlanOrRepair(opts, false, cli);
    });

  dataOptions(program.command("repair").description("scan, decide, apply conditional repairs, verify, audit"))
    .option("--dry-run", "show the repairs that would be made; write nothing")
    .addOption(
      new Option(
        "--mode <mode>",
        "which writes to make: all, insert-only (only records a target lacks) or upsert-only (no deletes); default: the dataset's repairMode",
      ).choices(["all", "insert-only", "upsert-only"]),
    )
    .option(
      "--from <file>",
      "repair only the entries of a diff file (scan --output) whose replicas still hold what it says; the rest are reported stale",
    )
    .option(
      "--print",
      "print the exact statements each write would run on its target (SQL in its dialect, Redis commands), with values; execute none",
    )
    .action(async (opts) => {
      code = await (await import("./plan.js")).runPlanOrRepair(opts, true, cli);
    });

  dataOptions(
    program
      .command("recheck")
      .description("re-check only the keys an earlier run found diverging (read-only unless --repair)"),
  )
    .requiredOption("--run <id>", "the run whose divergent keys to read again")
    .option("--plan", "also decide by policy (writes nothing)")
    .option("--repair", "also repair them: conditional writes, verified and audited")
    .option("--dry-run", "with --repair: show the writes that would be made; make none")
    .addOption(
      new Option("--mode <mode>", "with --repair: all, insert-only or upsert-only").choices([
        "all",
        "insert-only",
        "upsert-only",
      ]),
    )
    .action(async (opts) => {
      const options = { ...opts, recheck: opts.run };
      if (opts.plan && opts.repair) throw new UsageError("recheck: give --plan or --repair, not both");
      if (opts.dryRun && !opts.repair) throw new UsageError("recheck: --dry-run goes with --repair");
      code =
        opts.plan || opts.repair
          ? await (await import("./plan.js")).runPlanOrRepair(options, opts.repair === true, cli)
          : await (await import("./scan.js")).runScan(options, cli);
    });

  configOption(
    program
      .command("watch")
      .description(
        "check the keys the watched replicas' change feeds report, seconds after each write, until stopped",
      ),
  )
    .option("-d, --dataset <name>", "only this dataset (repeatable, or comma-separated)", collect)
    .option(
      "--drop",
      "remove the change feeds (replication slots and publications, triggers) and their positions",
    )
    .action(async (opts) => {
      code = await (await import("./watch.js")).runWatch(opts, cli);
    });

  configOption(
    program
      .command("replay")
      .description(
        "apply the owner's logged changes a replica missed (resolve: replay), from its cursor, in commit order, in batches",
      ),
  )
    .requiredOption(
      "-d, --dataset <name>",
      "the dataset (its policy: resolve: replay, owner: <replica>)",
      oneDataset,
    )
    .requiredOption("--replica <name>", "the replica that missed the owner's changes")
    .option("--batch <n>", "logged changes per batch (default: the dataset's watch.maxKeys)")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./replay.js")).runReplay(opts, cli);
    });

  program
    .command("diff <url1> <table1> <url2> <table2>")
    .description(
      "compare two tables without a config file (a Redis URL takes a key prefix for its table); read-only",
    )
    .requiredOption("-k, --key <columns>", "the key column(s), comma-separated")
    .option("--columns <columns>", "compare only these columns (comma-separated; default: all but the key)")
    .option("--names <a,b>", "what to call the two sides (default: left,right)")
    .option("--limit <n>", "list at most n differing rows (default 100; every one with --json)")
    .option(
      "--where <predicate>",
      "compare only the rows this SQL predicate holds, on both sides (SQL stores)",
    )
    .option(
      "--output <file>",
      "also write every differing row, full, to this diff file (JSON lines), for repair --from",
    )
    .option(
      "--dataset <name>",
      "name the comparison (default diff); a diff file then names this dataset, so repair --from applies it with a config that has it",
    )
    .option("--json", "print one JSON document on stdout (the scan document, with values)")
    .action(async (url1: string, table1: string, url2: string, table2: string, opts) => {
      code = await (await import("./diff.js")).runDiff([url1, table1, url2, table2], opts, cli);
    });

  const esc = program.command("escalations").description("the queue of divergences waiting for a person");
  const filters = (cmd: Command, group: string): Command =>
    cmd
      .option("-d, --dataset <name>", "only this dataset's", oneDataset)
      .option("--class <class>", "only this class (missing, conflict, …, schema, guard)")
      .option("--column <name>", "only those where this column differs")
      .option(
        "--replica <name>",
        "only those concerning this replica (it lacks the record or holds the odd value out)",
      )
      .option("--group [id]", group);
  filters(
    configOption(
      esc
        .command("list")
        .description("list escalations (open ones unless --all or --status), filtered, paged or grouped"),
    ),
    "fold them into groups alike enough for one decision; with an id, list that group",
  )
    .option("--all", "include resolved and rejected ones (with who closed them, when, which pick)")
    .option("--status <status>", "only open, resolved or rejected ones")
    .option("--limit <n>", "escalations per page (default 50; --json: all unless paged)")
    .option("--page <n>", "which page, from 1")
    .option("--values", "also read each listed key's current values on every replica, side by side")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./escalations.js")).runEscalationsList(opts, cli);
    });
  configOption(
    esc
      .command("show <id>")
      .description("one escalation whole: reason, who closed it, and its values now on every replica"),
  )
    .option("--json", "print one JSON document on stdout")
    .action(async (id: string, opts) => {
      code = await (await import("./escalations.js")).runEscalationsShow(id, opts, cli);
    });
  filters(
    configOption(
      esc
        .command("resolve [id]")
        .description(
          "resolve one (by id) or, with --all-matching, every open one the filters match: make a replica's state win, or reject",
        ),
    ),
    "with --all-matching: the escalations of this group (an id from list --group)",
  )
    .option("--pick <replica>", "the replica whose state wins (written through the conditional path)")
    .option("--reject", "close without writing")
    .option(
      "--all-matching",
      "every open escalation matching the filters (asks to confirm, showing how many)",
    )
    .option("-y, --yes", "with --all-matching: do not ask (needed when stdin is not a terminal)")
    .option("--json", "print one JSON document on stdout")
    .action(async (id: string | undefined, opts) => {
      code = await (await import("./escalations-resolve.js")).runEscalationsResolve(id, opts, cli);
    });

  configOption(
    program
      .command("insights")
      .description(
        "what the evidence says: replica reliability, drift hotspots, recurring patterns, recommendations",
      ),
  )
    .option("-d, --dataset <name>", "only this dataset (repeatable, or comma-separated)", collect)
    .option("--json", "print one JSON document on stdout")
    .option("--export <id>", "print a recommendation's candidate policy (the file plan --candidate reads)")
    .option("-o, --output <file>", "with --export: write it to this file instead")
    .action(async (opts) => {
      code = await (await import("./insights.js")).runInsights(opts, cli);
    });

  const audit = program.command("audit").description("the hash-chained audit log");
  configOption(
    audit
      .command("verify")
      .description(
        "check the hash chain, its signed anchors and the ledger against the audit (exit 3 when broken)",
      ),
  )
    .option("--anchors <file>", "read anchors from this file instead of audit.anchor.file")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./audit.js")).runAuditVerify(opts, cli);
    });
  configOption(audit.command("anchor").description("sign the log's head into audit.anchor.file"))
    .option("--json", "print the signed anchor as one JSON line (for an external log)")
    .action(async (opts) => {
      code = await (await import("./audit.js")).runAuditAnchor(opts);
    });
  audit
    .command("keygen")
    .description("write a new Ed25519 key pair for audit anchors")
    .option("--dir <path>", "where to write audit-anchor.key and audit-anchor.pub", ".")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./audit.js")).runAuditKeygen(opts);
    });
  configOption(audit.command("show").description("print audit entries"))
    .option("--run <id>", "only this run")
    .option("--key <key>", "only this key (42, or a,b for a composite key)")
    .option("--limit <n>", "the first n entries, oldest first (default 1000; a note says when more follow)")
    .option("--tail <n>", "the newest n entries instead (still oldest first)")
    .option(
      "--since <time>",
      "entries from this time on: ISO 8601 (2024-05-01T12:00Z) or a duration back (2h, 7d)",
    )
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./audit.js")).runAuditShow(opts, cli);
    });

  program
    .command("token")
    .description("API tokens for serve")
    .command("hash")
    .description("print the hash to declare under serve.tokens for a token read on stdin (never the token)")
    .option("--scrypt", "hash with scrypt (for a token a person chose) instead of SHA-256")
    .option("--generate", "make a new random token and print it with its hash")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./token.js")).runTokenHash(opts, cli);
    });

  const policy = program
    .command("policy")
    .description("the policy versions each dataset ran under: history, full text, diffs");
  configOption(
    policy.command("history").description("every policy version each dataset ran under, oldest first"),
  )
    .option("-d, --dataset <name>", "only this dataset", oneDataset)
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./policy.js")).runPolicyHistory(opts, cli);
    });
  configOption(
    policy.command("show [version]").description("a policy version's full text (default: the current one)"),
  )
    .option("-d, --dataset <name>", "the dataset (needed when several have policy history)", oneDataset)
    .option(
      "--block",
      "print it as a policy: block to paste under datasets.<name>.policy or give to plan --candidate",
    )
    .option("--json", "print one JSON document on stdout")
    .action(async (version: string | undefined, opts) => {
      code = await (await import("./policy.js")).runPolicyShow(version, opts, cli);
    });
  configOption(
    policy
      .command("diff [from] [to]")
      .description(
        "line diff of two policy versions (default: the current one against the one it replaced); exit 1 when they differ",
      ),
  )
    .option("-d, --dataset <name>", "the dataset (needed when several have policy history)", oneDataset)
    .option("--json", "print one JSON document on stdout")
    .action(async (from: string | undefined, to: string | undefined, opts) => {
      code = await (await import("./policy.js")).runPolicyDiff(from, to, opts, cli);
    });

  const checkpoint = program
    .command("checkpoint")
    .description("the unfinished serve passes kept in the state store");
  configOption(
    checkpoint
      .command("drop <dataset>")
      .description(
        "drop a dataset's checkpoint (a damaged one too): its next serve pass starts afresh, the old pass recorded failed",
      ),
  )
    .option("--json", "print one JSON document on stdout")
    .action(async (dataset: string, opts) => {
      code = await (await import("./checkpoint.js")).runCheckpointDrop(dataset, opts, cli);
    });

  configOption(
    program.command("rollback").description("undo the repairs of a run (or one repair), conditionally"),
  )
    .option("--run <id>", "every applied repair of this run")
    .option("--repair <id>", "one repair")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./rollback.js")).runRollback(opts, cli);
    });

  configOption(
    program
      .command("serve")
      .description("watch every dataset on its schedule, repair by policy; metrics, HTTP API and dashboard"),
  )
    .option("--listen <host:port>", "where to listen (default: serve.listen, else 127.0.0.1:7070)")
    .option(
      "--role <role>",
      "all (default): run every pass here; coordinator: plan passes, run their segments on concord worker processes",
    )
    .action(async (opts) => {
      code = await (await import("./serve.js")).runServe(opts, cli);
    });

  configOption(
    program
      .command("worker")
      .description(
        "run the segment jobs of a coordinator's passes (needs queue: and PostgreSQL state); stop with SIGTERM",
      ),
  )
    .option("--metrics <host:port>", "serve this worker's own metrics there (/metrics, /healthz)")
    .action(async (opts) => {
      code = await (await import("./worker.js")).runWorker(opts, cli);
    });

  program
    .command("simulate")
    .description("run the real engine against simulated replicas under injected faults; check invariants")
    .option("--seed <n>", "one seed (default 1)")
    .option("--seeds <a..b>", "a range of seeds, e.g. 1..200")
    .option("--replicas <k>", "replicas (default 3)")
    .option("--keys <n>", "keys (default 1000)")
    .option("--writes <n>", "client writes (default 10000)")
    .option(
      "--faults <list>",
      `comma-separated faults, all (default) or none; the faults: ${FAULT_KINDS.join(", ")}`,
    )
    .option("--policy <file>", "a YAML policy block (as under datasets.<name>.policy)")
    .option(
      "--candidate <file>",
      "also run every seed under this candidate policy and compare invariants and counts with --policy's",
    )
    .option("--versions <kind>", "counter (default), timestamp or vector")
    .option("--writers <mode>", "primary (default: clients write to r0) or all")
    .option("--unsafe-writes", "drop the conditional check from repairs (shows the checkers catching it)")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      code = await (await import("./simulate.js")).runSimulate(opts, cli);
    });

  program
    .command("demo")
    .description("create two SQLite replicas with seeded divergence under .concord/demo and reconcile them")
    .option("--dir <path>", "where to create the demo", ".concord/demo")
    .action(async (opts) => {
      code = await (await import("./demo.js")).runDemo(opts, cli);
    });

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.ok;
    return reportError(err, cli);
  }
  return code;
}

/** Entry for bin/concord.js: runs on the process's own io, sets its exit code and lets pending output flush. */
export function run(argv: readonly string[]): void {
  let settled = false;
  // A command whose every connection went quiet (a stalled store whose socket was later dropped) can leave
  // nothing for the event loop to wait on: Node would then exit 0 as if the command had finished. It never
  // may: an unfinished command exits 2 and says so.
  const unfinished = () => {
    if (settled) return;
    settled = true;
    process.exitCode = reportError(
      new UnfinishedError(
        "the command stopped before finishing: a store stopped answering (no result was reported)",
      ),
    );
  };
  process.once("beforeExit", unfinished);
  // A reader that went away (`concord scan --json | head`) ends the output quietly: the rest is dropped,
  // the command finishes its work, and its exit code is the command's own.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      stream.write = (() => true) as typeof stream.write;
      stream.emit("drain");
    });
  }
  main(argv).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err) => {
      settled = true;
      process.exitCode = reportError(err);
    },
  );
}
