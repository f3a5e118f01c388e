/** Exit codes and the one-line error report every command uses. */
import { CommanderError } from "commander";
import { redactText } from "../config/redact.js";
import { printable } from "../core/printable.js";
import { type CliIo, processIo } from "./io.js";

/** Exit codes, like diff: 0 agree / done, 1 divergence remains, 2 usage/config/connection, 3 audit broken. */
export const EXIT = { ok: 0, diverged: 1, usage: 2, audit: 3, interrupted: 130 } as const;

/** Errors whose message is meant for the user as it is (config, connection, bad data, usage). */
const KNOWN_ERRORS: ReadonlySet<string> = new Set([
  "ConfigError",
  "ConnectorError",
  "StateStoreError",
  "UsageError",
  "RowError",
  "OrderError",
  "PolicyError",
  "EscalationNotOpenError",
  "AnchorLogError",
  "AuditAnchorError",
  "AuditBrokenError",
  "UnfinishedError",
  "SpillError",
  "ChangeFeedError",
  "ReplayError",
  "RollbackBusyError",
]);

/**
 * Known errors whose exit code is not the usage one: a log that no longer extends its anchor, or that does not
 * verify when a command would act on its ledger, is a finding.
 */
const EXIT_OF: Readonly<Record<string, number>> = { AuditAnchorError: 3, AuditBrokenError: 3 };

/** A command that ended without a result: nothing was left for it to wait on (bin entry, `run`). */
export class UnfinishedError extends Error {
  override readonly name = "UnfinishedError";
}

/** A usage problem found by a command (bad flag value, unknown dataset). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Prints `concord: <message>` on one line (credentials redacted) on `io.stderr` and returns the exit code
 * for it. With CONCORD_DEBUG set in `io.env`, an unexpected error's stack follows.
 */
export function reportError(err: unknown, io: Pick<CliIo, "stderr" | "env"> = processIo()): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // Matched by name, not class, so that this module (loaded by every command) pulls in no driver.
  const known = err instanceof Error && KNOWN_ERRORS.has(err.name);
  const message = err instanceof Error ? err.message : String(err);
  const oneLine = printable(redactText(message).split("\n")[0]!.trim());
  const prefix =
    err instanceof Error && err.name === "RowError"
      ? "bad data from a store: "
      : known
        ? ""
        : "internal error: ";
  io.stderr.write(`concord: ${prefix}${oneLine}\n`);
  if (!known && io.env.CONCORD_DEBUG && err instanceof Error && err.stack)
    io.stderr.write(`${redactText(err.stack)}\n`);
  return (known && EXIT_OF[(err as Error).name]) || EXIT.usage;
}
