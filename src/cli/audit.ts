/** `concord audit verify|show|anchor|keygen`: check the chain, its anchors and the ledger; read the trail; anchor it. */
import { resolve } from "node:path";
import { AnchorLogError } from "../audit/anchor-log.js";
import { generateAnchorKeys } from "../audit/generate-anchor-keys.js";
import { verifyAudit } from "../audit/verify-audit.js";
import { AuditAnchorError, writeAuditAnchor } from "../audit/write-audit-anchor.js";
import { ConfigError } from "../config/load-config.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { printable } from "./printable.js";
import { openSession } from "./session.js";

export interface AuditOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly run?: string | undefined;
  readonly key?: string | undefined;
  readonly limit?: string | undefined;
  /** verify: read anchors from this file instead of audit.anchor.file. */
  readonly anchors?: string | undefined;
}

const when = (at: number) => new Date(at).toISOString();
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Verifies the chain, its anchors and the ledger against the audit (`verifyAudit`). Exit 0 when all hold,
 * 3 on any mismatch, with its one-line reason ("Audit log BROKEN …").
 */
export async function runAuditVerify(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const session = await openSession({ config: options.config }, { readonly: true }, io);
  try {
    const verdict = await verifyAudit(session.state, session.config.audit, { anchorsFile: options.anchors });
    if (options.json) stdout.write(`${JSON.stringify(verdict)}\n`);
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
  const session = await openSession({ config: options.config }, { readonly: true }, io);
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
  if (options.json) stdout.write(`${JSON.stringify(keys)}\n`);
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

/** Normalises a --key argument: "42" and "[42]" both mean the key [42]; "a,b" a composite key. */
function keyFilter(text: string): string {
  if (text.startsWith("[")) return JSON.stringify((JSON.parse(text) as unknown[]).map(String));
  return JSON.stringify(text.split(","));
}

export async function runAuditShow(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const limit = options.limit === undefined ? 1000 : Number(options.limit);
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new UsageError(`--limit: expected a positive whole number, got "${options.limit}"`);
  const session = await openSession({ config: options.config }, { readonly: true }, io);
  try {
    // One more than asked for, to tell the reader when there is more.
    const entries = await session.state.readAudit({
      ...(options.run ? { runId: options.run } : {}),
      ...(options.key ? { key: keyFilter(options.key) } : {}),
      limit: limit + 1,
    });
    const truncated = entries.length > limit;
    if (truncated) entries.length = limit;
    if (options.json) {
      stdout.write(`${JSON.stringify({ entries, ...(truncated ? { truncated: true } : {}) }, null, 2)}\n`);
    } else if (entries.length === 0) {
      stdout.write("No audit entries match.\n");
    } else {
      for (const e of entries) {
        const key = e.key ? ` ${printable((JSON.parse(e.key) as string[]).join(","))}` : "";
        const data = e.data as Record<string, unknown>;
        const detail =
          (data.reason as string | undefined) ??
          (data.target
            ? `${data.target}${data.error ? `: ${data.error}` : ""}`
            : ((data.class as string | undefined) ?? ""));
        stdout.write(
          `#${e.seq} ${new Date(e.ts).toISOString()} ${e.runId ?? "-"} ${e.type} ${e.dataset ?? ""}${key}  ${printable(String(detail))}\n`,
        );
      }
      if (truncated)
        stdout.write(
          `… more entries follow #${entries.at(-1)!.seq}; raise --limit or filter with --run / --key\n`,
        );
    }
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
