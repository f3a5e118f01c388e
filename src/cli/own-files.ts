/**
 * The files Concord itself reads for a config (the config, the SQLite state file, SQLite replicas, the anchor
 * log and keys), which an output flag must never replace: `scan --output a.db` put a diff file in place of a
 * replica's database, `--output state.db` in place of the audit log.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import type { ConcordConfig } from "../config/load-config.js";
import { UsageError } from "./errors.js";

/** Each file the config makes Concord read, with what it is. */
function ownFiles(config: ConcordConfig, configFile: string | undefined): [path: string, what: string][] {
  const out: [string, string][] = [];
  const sqlite = (url: string, what: string) => {
    if (!url.startsWith("sqlite:")) return;
    const path = url.slice("sqlite:".length);
    if (path === ":memory:" || path === "") return;
    for (const suffix of ["", "-wal", "-shm", "-journal"]) out.push([path + suffix, what]);
  };
  if (configFile) out.push([configFile, "the config file"]);
  sqlite(config.state, "the state file (runs, ledger, audit log)");
  for (const ds of config.datasets)
    for (const r of ds.replicas) sqlite(r.url, `the database of replica ${ds.name}.${r.name}`);
  const anchor = config.audit.anchor;
  if (anchor) {
    out.push([anchor.file, "the audit anchor log"]);
    for (const key of [anchor.privateKey, anchor.publicKey])
      if (key && !key.trimStart().startsWith("-----BEGIN")) out.push([key, "an audit anchor key"]);
  }
  return out;
}

/** The file's device and inode, or undefined when it does not exist (or cannot be examined). */
function identity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Throws a UsageError (`flag given: is the state file …`) when `target` (absolute) is, or is a link to, a
 * file the config makes Concord read.
 */
export function refuseOwnFile(
  target: string,
  config: ConcordConfig,
  configFile: string | undefined,
  flag: string,
): void {
  const id = identity(target);
  for (const [path, what] of ownFiles(config, configFile)) {
    const abs = resolve(path);
    if (abs === target || (id !== undefined && identity(abs) === id))
      throw new UsageError(`${flag}: is ${what}; write it elsewhere`);
  }
}
