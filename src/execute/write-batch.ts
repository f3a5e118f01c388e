/** Writes one batch of conditional writes to one replica so that one failing row never fails its batch. No ledger here. */
import {
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type WriteOutcome,
} from "../connectors/connector.js";
import { fingerprintRow } from "../core/fingerprint.js";
import type { RecordShape } from "../core/model.js";
import { RowsRejectedError, type WriteGuard } from "./write-guard.js";

/** What became of one write: its outcome, or the store's error (one line) when it failed. */
export type RowWrite = { readonly outcome: WriteOutcome } | { readonly error: string };

/** Error codes and texts that say the replica could not be reached or dropped the connection. */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
]);
const UNREACHABLE_TEXT =
  /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN|PROTOCOL_CONNECTION_LOST)\b|cannot reach|connection (is )?(closed|not open|lost|terminated)|connection terminated|socket hang up|replica is down|unreachable/i;

/** Whether `err` says the replica was unreachable (as opposed to refusing what was written). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && UNREACHABLE_CODES.has(code)) return true;
  return UNREACHABLE_TEXT.test(err instanceof Error ? err.message : String(err));
}

/** A write the replica did not answer within its deadline: it may or may not have landed. */
function missedDeadline(err: unknown): boolean {
  const e = err instanceof RowsRejectedError ? err.cause : err;
  return e instanceof ConnectorError && e.timedOut === true;
}

/** The first line of an error's message. */
export function oneLine(err: unknown): string {
  const e = err instanceof RowsRejectedError ? err.cause : err;
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
}

/**
 * True when `w` changes the record it expects (what it writes is not what was observed). After an attempt that
 * may have landed unheard, such a write that its retry finds already done was done by that attempt: it is
 * recorded `applied` (with its before image, which a rollback restores), not `noop`, as recovery records a
 * pending write whose record holds what was written.
 */
function changes(w: ConditionalWrite): boolean {
  return w.expected !== (w.next ? fingerprintRow(w.key, w.next) : null);
}

/**
 * Applies `writes` to `replica` through the guard and returns one RowWrite per write, in order. Throws only
 * when the replica missed its deadline (a ConnectorError with `timedOut`): whether the batch committed is
 * then unknown, so the caller must not settle it.
 *
 * The batch is sent whole first. When it fails, the failure is the replica's when the error says it was
 * unreachable or the replica then fails a read of the batch's first key: the guard retries the batch and
 * counts it against the replica's circuit breaker, as before, and every write fails with that error (a retry
 * that succeeds records a write it finds already done `applied`: see `changes`). Otherwise
 * the store refused something in the batch (a value a column rejects, a row over the packet limit, a
 * duplicate under the collation): each write is then sent alone, so the others land and only the refused
 * ones fail, with the store's message. Refused rows are neither retried nor counted by the breaker (a data
 * error says nothing about the replica's health); a connection error during the row-by-row pass still is, and
 * ends the pass (the rest fail with it). A batch of several writes none of which is taken counts once against
 * the replica: a replica that answers reads but takes no writes (read-only, disk full) still opens its circuit.
 */
export async function writeBatch(
  guard: WriteGuard,
  replica: string,
  connector: Connector,
  shape: RecordShape,
  writes: readonly ConditionalWrite[],
): Promise<RowWrite[]> {
  if (writes.length === 0) return [];
  // Whether the replica answered since the last refused write: a refusal right after an answer is the row's.
  let answered = false;
  const judge = async (err: unknown, key: ConditionalWrite["key"]): Promise<unknown> => {
    if (isUnreachable(err) || missedDeadline(err)) return err;
    if (!answered) {
      try {
        await connector.fetchRecords(shape, [key]);
      } catch {
        return err;
      }
    }
    answered = false;
    return new RowsRejectedError(err);
  };
  const send = async (batch: readonly ConditionalWrite[]): Promise<WriteOutcome[]> => {
    // Whether an attempt failed on the replica (a reset, a lost connection) rather than on a row: the server
    // may have run that attempt (a COMMIT that landed, Redis scripts that ran) without Concord hearing so.
    let unsure = false;
    const outcomes = await guard.run(replica, batch.length, async () => {
      try {
        const outcomes = await connector.applyWrites(shape, batch);
        answered = true;
        return outcomes;
      } catch (err) {
        const judged = await judge(err, batch[0]!.key);
        if (!(judged instanceof RowsRejectedError)) unsure = true;
        throw judged;
      }
    });
    return unsure ? outcomes.map((o, i) => (o === "noop" && changes(batch[i]!) ? "applied" : o)) : outcomes;
  };

  try {
    return (await send(writes)).map((outcome) => ({ outcome }));
  } catch (err) {
    if (missedDeadline(err)) throw err;
    if (!(err instanceof RowsRejectedError) || writes.length === 1)
      return writes.map(() => ({ error: oneLine(err) }));
  }
  const out: RowWrite[] = [];
  let taken = 0;
  let lastRefusal: unknown;
  for (const [i, w] of writes.entries()) {
    try {
      const [outcome] = await send([w]);
      out.push({ outcome: outcome! });
      taken++;
    } catch (err) {
      if (missedDeadline(err)) throw err;
      if (!(err instanceof RowsRejectedError)) {
        for (const _ of writes.slice(i)) out.push({ error: oneLine(err) });
        return out;
      }
      lastRefusal = err.cause;
      out.push({ error: oneLine(err) });
    }
  }
  if (taken === 0) await guard.countFailure(replica, lastRefusal);
  return out;
}
