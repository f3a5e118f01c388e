/** `concord audit verify|show|anchor|keygen`: check the chain, its anchors and the ledger; read the trail; anchor it. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { AnchorLogError } from "../audit/anchor-log.js";
import { generateAnchorKeys } from "../audit/generate-anchor-keys.js";
import { verifyAudit } from "../audit/verify-audit.js";
import { AuditAnchorError, writeAuditAnchor } from "../audit/write-audit-anchor.js";
import { ConfigError } from "../config/load-config.js";
import type { AuditEntry } from "../core/audit-chain.js";
import { parseDuration } from "../core/duration.js";
import { parseIsoTime } from "../core/iso-time.js";
import { printable } from "../core/printable.js";
import { readAuditByKey } from "../engine/audit-by-key.js";
import { NoAuditLogError } from "../state/open-state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { openSession, type Session } from "./session.js";
import { clip, plural } from "./text-table.js";
import { wholeNumber } from "./whole-number.js";

export interface AuditOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly run?: string | undefined;
  readonly key?: string | undefined;
  readonly limit?: string | undefined;
  /** show: the newest n entries instead of the first. */
  readonly tail?: string | undefined;
  /** show: only entries from this time on (ISO 8601, or a duration back from now). */
  readonly since?: string | undefined;
  /** verify: read anchors from this file instead of audit.anchor.file. */
  readonly anchors?: string | undefined;
}

const when = (at: number) => new Date(at).toISOString();

/**
 * True for an error (or its cause) by which SQLite says the state file is not a sound database
 * (SQLITE_CORRUPT, SQLITE_NOTADB): damaged, as opposed to locked or unreachable.
 */
function damagedStore(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) return true;
  }
  return false;
}

/**
 * Verifies the chain, its anchors and the ledger against the audit (`verifyAudit`). Exit 0 when all hold,
 * 3 on any mismatch, with its one-line reason ("Audit log BROKEN …").
 */
export async function runAuditVerify(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  // A state store that is not there (a SQLite file deleted or never written, a PostgreSQL schema dropped or
  // never created) is not opened: opening it would create an empty log, reported intact (unanchored, nothing
  // would tell). There is no log to vouch for.
  const session = await openSession({ config: options.config }, { readonly: true, state: "existing" }, io);
  try {
    // Anchors are checked with audit.anchor.publicKey: without it, --anchors would be ignored and the
    // log reported intact unanchored, which is not what was asked.
    if (options.anchors !== undefined && !session.config.audit.anchor)
      throw new UsageError(
        `--anchors ${options.anchors}: ${session.config.path} has no audit.anchor (its publicKey checks the anchors' signatures)`,
      );
    // A copy named on the command line that is not there is a mistyped path, not an emptied anchor log
    // (which the configured audit.anchor.file going missing is, and reported BROKEN).
    if (options.anchors !== undefined && !existsSync(resolve(io.cwd, options.anchors)))
      throw new UsageError(`--anchors ${options.anchors}: cannot read (not found)`);
    const verdict = await verifyAudit(session.state, session.config.audit, {
      anchorsFile: options.anchors,
    }).catch((err: unknown) => {
      if (err instanceof NoAuditLogError) return { ok: false as const, problem: err.message };
      // A state file cut short or overwritten holds a log no one can vouch for: that is a failed
      // verification (3), not a configuration or connection problem (2).
      if (!damagedStore(err)) throw err;
      const problem = `the state store cannot be read: ${err instanceof Error ? err.message : String(err)}`;
      return { ok: false as const, problem };
    });
    if (options.json) stdout.write(`${JSON.stringify(jsonDoc(verdict))}\n`);
    else if (!verdict.ok) {
      stdout.write(`Audit log BROKEN${"seq" in verdict ? " at" : ":"} ${verdict.problem}\n`);
    } else {
      stdout.write(`Audit log intact: ${verdict.count} entries, every hash chains to the one before.\n`);
      stdout.write(
        `Ledger agrees: ${plural(verdict.ledger.settled, "settled repair")}, each with its audit entry.\n`,
      );
      const a = verdict.anchors;
      if (!a)
        stdout.write(
          "Not anchored: removing the newest entries, or rewriting the log with recomputed hashes, would go unseen (configure audit.anchor).\n",
        );
      else if (!a.latest) stdout.write(`Anchored: the log is empty, and so is ${a.file}.\n`);
      else
        stdout.write(
          `Anchored: ${plural(a.anchors, "signed anchor")} in ${a.file} match; the latest vouches for entry ${a.latest.seq} (${when(a.latest.at)})${a.unanchored ? `, ${plural(a.unanchored, "entry", "entries")} since` : ""}.\n`,
        );
    }
    return verdict.ok ? EXIT.ok : EXIT.audit;
  } finally {
    await session.close();
  }
}

/**
 * Signs the head of the log into audit.anchor.file (`writeAuditAnchor`). Exit 0 when anchored (or
 * already), 3 when the log no longer extends the last anchor, 2 for configuration problems.
 */
export async function runAuditAnchor(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout, stderr } = io;
  const session = await openSession({ config: options.config }, { readonly: true, state: "existing" }, io);
  try {
    if (!session.config.audit.anchor)
      throw new ConfigError(
        "audit.anchor: not configured (file, privateKey, publicKey; see concord audit keygen)",
      );
    let result: Awaited<ReturnType<typeof writeAuditAnchor>>;
    try {
      result = await writeAuditAnchor(session.state, session.config.audit, Date.now());
    } catch (err) {
      if (!(err instanceof AuditAnchorError || err instanceof AnchorLogError)) throw err;
      stderr.write(`concord: ${err.message}\n`);
      return err instanceof AuditAnchorError ? EXIT.audit : EXIT.usage;
    }
    const { anchor, written } = result!;
    if (options.json) stdout.write(`${JSON.stringify(anchor)}\n`);
    else
      stdout.write(
        `${written ? "Anchored" : "Already anchored"}: entry ${anchor.seq} (hash ${anchor.hash.slice(0, 16)}…, ${when(anchor.at)}, key ${anchor.key}) in ${session.config.audit.anchor.file}.\n`,
      );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** Writes a new Ed25519 key pair for anchors into `dir` and prints the config to use it. */
export async function runAuditKeygen(
  options: { readonly dir: string; readonly json?: boolean | undefined },
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  let keys: ReturnType<typeof generateAnchorKeys>;
  try {
    keys = generateAnchorKeys(resolve(io.cwd, options.dir));
  } catch (err) {
    throw new UsageError(`keygen --dir ${options.dir}: ${(err as Error).message}`);
  }
  if (options.json) stdout.write(`${JSON.stringify(jsonDoc(keys))}\n`);
  else
    stdout.write(
      `Wrote ${keys.privateKeyPath} (keep it secret; mode 0600) and ${keys.publicKeyPath} (key ${keys.keyId}).
Add to concord.yaml (or give the private key as PEM text from an environment variable):
audit:
  anchor:
    file: .concord/audit-anchors.jsonl    # better: storage the state store's host cannot rewrite
    privateKey: ${keys.privateKeyPath}    # or \${CONCORD_ANCHOR_KEY}
    publicKey: ${keys.publicKeyPath}
`,
    );
  return EXIT.ok;
}

/**
 * Reads a --key argument into its parts: "42" and "[42]" both mean the key [42]; "a,b" a composite key; a
 * JSON array may hold null for a NULL key part (`[10,null]`). Which stored keys the parts name depends on
 * the key columns' types (`auditKeyMatch`: `07` is integer key 7).
 */
function keyParts(text: string): (string | null)[] {
  if (text.startsWith("[")) {
    try {
      const parts: unknown = JSON.parse(text);
      if (
        Array.isArray(parts) &&
        parts.length &&
        parts.every((p) => p === null || ["string", "number"].includes(typeof p))
      )
        return parts.map((p) => (p === null ? null : String(p)));
    } catch {
      // reported below
    }
    throw new UsageError(
      `--key ${text}: expected 42, a,b or a JSON array such as [42], ["eu","x"] or [10,null]`,
    );
  }
  return text.split(",");
}

/** How many entries `audit show` prints unless --limit or --tail says otherwise. */
export const DEFAULT_AUDIT_LIMIT = 1000;

/** --since: an ISO 8601 date-time, or a duration back from now (30m, 2h, 7d). Milliseconds since the epoch. */
export function parseSince(text: string, now: number): number {
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const at = parseIsoTime(text);
  if (Number.isNaN(at))
    throw new UsageError(
      `--since ${text}: expected an ISO 8601 date-time (2024-05-01T12:00Z) or a duration (30m, 2h, 7d)`,
    );
  return at;
}

/** The seq of the first entry at or after `since` (by a binary search over seqs: times grow with them). */
async function firstSeqSince(state: Session["state"], since: number): Promise<number> {
  const [last] = await state.readAudit({ newest: true, limit: 1 });
  if (!last) return 1;
  let lo = 1;
  let hi = last.seq + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const [e] = await state.readAudit({ fromSeq: mid, limit: 1 });
    if (!e || e.ts >= since) hi = mid;
    else lo = e.seq + 1;
  }
  return lo;
}

/** An entry as `audit show --json` prints it: as stored, plus its ISO time, typed key and named images. */
export interface AuditEntryView extends AuditEntry {
  /** `ts` as ISO 8601. */
  readonly time: string;
  /** The key typed as scan's JSON shows it (text when the entry predates typed keys); null when keyless. */
  readonly keyJson: readonly unknown[] | null;
  /** A repair's before and after images by column name (null: absent); only where the entry names its columns. */
  readonly images?: {
    readonly before: Record<string, unknown> | null;
    readonly after: Record<string, unknown> | null;
  };
}

/** Builds entry views, remembering typed keys seen so an untyped entry of the same key is typed too. */
function entryViewer(): (e: AuditEntry) => AuditEntryView {
  const typed = new Map<string, unknown[]>();
  return (e) => {
    const data = (e.data ?? {}) as Record<string, unknown>;
    const known = `${e.dataset}\n${e.key}`;
    let keyJson: unknown[] | null = null;
    if (e.key !== null) {
      if (Array.isArray(data.keyJson)) {
        keyJson = data.keyJson;
        typed.set(known, keyJson);
      } else keyJson = typed.get(known) ?? safeKey(e.key);
    }
    const columns =
      Array.isArray(data.columns) && ("before" in data || "after" in data)
        ? (data.columns as string[])
        : undefined;
    const image = (v: unknown) =>
      Array.isArray(v) && columns ? Object.fromEntries(columns.map((c, i) => [c, v[i] ?? null])) : null;
    return {
      ...e,
      time: new Date(e.ts).toISOString(),
      keyJson,
      ...(columns ? { images: { before: image(data.before), after: image(data.after) } } : {}),
    };
  };
}

function safeKey(text: string): unknown[] {
  try {
    const parts: unknown = JSON.parse(text);
    return Array.isArray(parts) ? parts : [text];
  } catch {
    return [text];
  }
}

/** One line of what an entry says: the reason, a repair's changed columns, or its class. */
function entryDetail(e: AuditEntryView): string {
  const data = (e.data ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (v === null || v === undefined ? "NULL" : JSON.stringify(v));
  if (e.images) {
    const { before, after } = e.images;
    const target = String(data.target ?? "?");
    const error = data.error ? `: ${String(data.error)}` : "";
    if (!before && after) return `${target}: inserted${error}`;
    if (before && !after) return `${target}: deleted${error}`;
    if (before && after) {
      const changed = Object.keys(after).filter(
        (c) => JSON.stringify(before[c]) !== JSON.stringify(after[c]),
      );
      const what = changed
        .map((c) => `${c} ${clip(str(before[c]), 40)} → ${clip(str(after[c]), 40)}`)
        .join(", ");
      return `${target}: ${what || "unchanged"}${error}`;
    }
  }
  if (typeof data.reason === "string") return data.reason;
  if (data.target) return `${String(data.target)}${data.error ? `: ${String(data.error)}` : ""}`;
  if (typeof data.escalation === "string")
    return `escalation ${data.escalation}${data.by ? ` by ${String(data.by)}` : ""}${data.pick ? `, pick ${String(data.pick)}` : ""}${data.note ? ` (${String(data.note)})` : ""}`;
  return typeof data.class === "string" ? data.class : "";
}

export async function runAuditShow(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  if (options.tail !== undefined && options.limit !== undefined)
    throw new UsageError("give --limit (the first entries) or --tail (the newest), not both");
  const tail = options.tail === undefined ? undefined : wholeNumber(options.tail, "--tail");
  const limit =
    tail ?? (options.limit === undefined ? DEFAULT_AUDIT_LIMIT : wholeNumber(options.limit, "--limit"));
  const parts = options.key === undefined ? undefined : keyParts(options.key);
  const since = options.since === undefined ? undefined : parseSince(options.since, Date.now());
  const session = await openSession({ config: options.config }, { readonly: true, state: "existing" }, io);
  try {
    const fromSeq = since === undefined ? undefined : await firstSeqSince(session.state, since);
    // One more than asked for, to tell the reader when there is more (before the tail, or after the head).
    const filter = {
      ...(options.run ? { runId: options.run } : {}),
      ...(fromSeq ? { fromSeq } : {}),
      limit: limit + 1,
      ...(tail !== undefined ? { newest: true } : {}),
    };
    const read = parts
      ? await readAuditByKey(session.state, session.config.datasets, parts, filter, tail !== undefined)
      : await session.state.readAudit(filter);
    const matching = since === undefined ? read : read.filter((e) => e.ts >= since);
    const truncated = matching.length > limit;
    const shown = tail !== undefined ? matching.slice(-limit) : matching.slice(0, limit);
    const view = entryViewer();
    const entries = shown.map(view);
    if (options.json) {
      stdout.write(
        `${JSON.stringify(jsonDoc({ entries, truncated, limit, order: tail === undefined ? "first" : "newest" }), null, 2)}\n`,
      );
      return EXIT.ok;
    }
    if (entries.length === 0) {
      stdout.write("No audit entries match.\n");
      return EXIT.ok;
    }
    if (tail !== undefined && truncated)
      stdout.write(
        `… earlier entries precede #${entries[0]!.seq} (showing the newest ${plural(limit, "entry", "entries")})\n`,
      );
    for (const e of entries) {
      const shownKey = e.keyJson ? ` ${printable(e.keyJson.join(","))}` : "";
      stdout.write(
        `#${e.seq} ${e.time} ${e.runId ?? "-"} ${e.type} ${printable(e.dataset ?? "")}${shownKey}  ${printable(entryDetail(e))}\n`,
      );
    }
    if (tail === undefined && truncated)
      stdout.write(
        `… more entries follow #${entries.at(-1)!.seq}; ${
          options.limit === undefined
            ? `showing the first ${plural(limit, "entry", "entries")} (the default --limit): raise --limit, use --tail N for the newest, or filter with --since / --run / --key`
            : "raise --limit or filter with --run / --key / --since"
        }\n`,
      );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
