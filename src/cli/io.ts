/** What a CLI command reads and writes besides its arguments. Commands touch no process-wide state but this. */

/** A stream the progress bar may draw on: a bar is drawn only where `isTTY` is true. */
export type CliStream = NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };

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
}

/** The process's own streams, environment and working directory (what `bin/concord.js` runs with). */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
