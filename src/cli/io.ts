/** What a CLI command reads and writes besides its arguments. Commands touch no process-wide state but this. */

import { createRequire } from "node:module";
import { redactText } from "../config/redact.js";
import { printable } from "../core/printable.js";

/** A stream the progress bar may draw on: a bar is drawn only where `isTTY` is true. */
export type CliStream = NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };

/** Where a confirmation is read from: a person answers only where `isTTY` is true. */
export type CliInput = NodeJS.ReadableStream & { readonly isTTY?: boolean };

/**
 * The command line's surroundings, passed to `main()` and on to every command: where output goes, which
 * environment `${VAR}` in the config, CONCORD_TOKEN and CONCORD_DEBUG come from, and the directory relative
 * paths (`-c concord.yaml`, `demo --dir`, `simulate --policy`) resolve against. Commands never read
 * `process.env` or `process.cwd()`, never write `process.stdout`/`process.stderr` directly, and never set
 * `process.exitCode`, so several commands can run in one process (a test suite, a host application).
 */
export interface CliIo {
  /** Results: reports and `--json` documents. */
  readonly stdout: CliStream;
  /** Errors, warnings, logs (`serve`) and the progress bar. */
  readonly stderr: CliStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** An absolute directory. */
  readonly cwd: string;
  /**
   * Where a command asking for confirmation reads the answer (called only then, so other commands never
   * touch the process's stdin). Absent: nobody can answer, as when stdin is not a terminal.
   */
  readonly stdin?: (() => CliInput) | undefined;
}

/** The process's own streams, environment and working directory (what `bin/concord.js` runs with). */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stdin: () => process.stdin,
  };
}

/**
 * Asks `question` on stderr and reads one line from stdin: true for y or yes (any case). Resolves
 * undefined without asking when stdin is absent or not a terminal (nobody there to answer).
 */
export async function confirm(io: CliIo, question: string): Promise<boolean | undefined> {
  const input = io.stdin?.();
  if (!input?.isTTY) return undefined;
  io.stderr.write(`${question} [y/N] `);
  // Loaded here, the one place a command reads a line: every command's start-up skips readline's modules.
  // Required, not import()ed: bin/concord.js compiles the bundle's chunks from V8's code cache, whose functions
  // have no callback for import().
  const { createInterface } = createRequire(import.meta.url)(
    "node:readline",
  ) as typeof import("node:readline");
  const rl = createInterface({ input, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once("line", resolve);
      rl.once("close", () => resolve(""));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
    input.pause?.();
  }
}

/** Writes a warning (a recovery's, about a row it did not act on) to `stderr`: one line, its text made inert. */
export function writeWarning(stderr: NodeJS.WritableStream, warning: string): void {
  stderr.write(`concord: warning: ${printable(redactText(warning))}\n`);
}

/** A recovery's `warn` that writes each warning to `stderr` as it comes (`writeWarning`) and keeps it for a JSON document. */
export function keptWarnings(stderr: NodeJS.WritableStream): {
  warnings: string[];
  warn: (w: string) => void;
} {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (w) => {
      warnings.push(w);
      writeWarning(stderr, w);
    },
  };
}
