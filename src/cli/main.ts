/** The `concord` command line: parses arguments, runs one command, returns its exit code. Never exits the process itself. */
import { Command, CommanderError, Option } from "commander";
import { runDemo } from "./demo.js";
import { EXIT, reportError } from "./errors.js";
import { runScan } from "./scan.js";

const VERSION = "0.1.0";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter(Boolean)];
}

function dataOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("-c, --config <path>", "configuration file").default("concord.yaml"))
    .option("-d, --dataset <name>", "only this dataset (repeatable, or comma-separated)", collect)
    .option("--json", "print one JSON document on stdout");
}

/** Runs the CLI with `argv` (as process.argv) and resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command()
    .name("concord")
    .description(
      "Keeps replicas of the same data in agreement: detect, classify, decide, repair, verify, audit.",
    )
    .version(VERSION)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      outputError: (str, write) => write(`concord: ${str.replace(/^error: /, "").trim()}\n`),
    });

  dataOptions(
    program.command("scan").description("find and classify divergence between replicas (read-only)"),
  ).action(async (opts) => {
    code = await runScan(opts);
  });

  program
    .command("demo")
    .description("create two SQLite replicas with seeded divergence under .concord/demo and reconcile them")
    .option("--dir <path>", "where to create the demo", ".concord/demo")
    .action(async (opts) => {
      code = await runDemo(opts);
    });

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.ok;
    return reportError(err);
  }
  return code;
}

/** Entry for bin/concord.js: sets the exit code and lets pending output flush. */
export function run(argv: readonly string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = reportError(err);
    },
  );
}
