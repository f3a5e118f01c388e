/** `concord audit verify|show`: check the hash chain end to end, and read the trail. */
import { verifyAuditChainAsync } from "../core/audit-chain.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { openSession } from "./session.js";

export interface AuditOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly run?: string | undefined;
  readonly key?: string | undefined;
  readonly limit?: string | undefined;
}

/** Exit 0 when the chain is intact, 3 when broken (naming the first bad entry). */
export async function runAuditVerify(options: AuditOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const session = await openSession({ config: options.config }, { readonly: true }, io);
  try {
    const verdict = await verifyAuditChainAsync(session.state.iterateAudit());
    if (options.json) stdout.write(`${JSON.stringify(verdict)}\n`);
    else if (verdict.ok)
      stdout.write(`Audit log intact: ${verdict.count} entries, every hash chains to the one before.\n`);
    else stdout.write(`Audit log BROKEN at ${verdict.problem}\n`);
    return verdict.ok ? EXIT.ok : EXIT.audit;
  } finally {
    await session.close();
  }
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
        const key = e.key ? ` ${(JSON.parse(e.key) as string[]).join(",")}` : "";
        const data = e.data as Record<string, unknown>;
        const detail =
          (data.reason as string | undefined) ??
          (data.target
            ? `${data.target}${data.error ? `: ${data.error}` : ""}`
            : ((data.class as string | undefined) ?? ""));
        stdout.write(
          `#${e.seq} ${new Date(e.ts).toISOString()} ${e.runId ?? "-"} ${e.type} ${e.dataset ?? ""}${key}  ${detail}\n`,
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
