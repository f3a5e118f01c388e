/** The in-memory queue every change feed fills and `take`s from: whole transactions, bounded, with gaps. No I/O. */
import { type Key, keyId } from "../core/model.js";
import type { ChangeBatch, RowImage } from "./change-feed.js";

interface Committed {
  readonly keys: readonly Key[];
  readonly position: string;
  /** Rows as the transaction left them, by `keyId` (see ChangeBatch.images). */
  readonly images?: ReadonlyMap<string, RowImage | null> | undefined;
}

/**
 * Committed transactions in commit order, each with its changed keys and the feed position after it. Holds at
 * most `limit` keys: past that it drops them and records a gap up to the newest position instead (a whole pass
 * then covers them), and while a gap is open further transactions only move its position. A failure of the
 * feed is kept and thrown by the next `take`.
 */
export class ChangeBuffer {
  private queue: Committed[] = [];
  private held = 0;
  private gap: { reason: string; position: string | undefined; released: boolean } | undefined;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  /**
   * A committed transaction's changed keys (none: only the position moved), the position after it, and the
   * rows it left for some of its keys (see ChangeBatch.images).
   */
  push(keys: readonly Key[], position: string, images?: ReadonlyMap<string, RowImage | null>): void {
    if (this.gap) {
      this.gap.position = position;
    } else if (this.held + keys.length > this.limit) {
      this.open(`more than ${this.limit} changed keys waited to be checked`, position);
    } else {
      const last = this.queue.at(-1);
      // Transactions that changed nothing of ours only move the position: fold them into the last one.
      if (keys.length === 0 && last) this.queue[this.queue.length - 1] = { ...last, position };
      else this.queue.push({ keys, position, images });
      this.held += keys.length;
    }
    this.notify();
  }

  /**
   * Changes up to `position` (undefined: the position is unchanged) may have been missed; `released` when the
   * store released changes the feed had not acknowledged (see ChangeBatch.released).
   */
  open(reason: string, position: string | undefined, released = false): void {
    const before = this.gap?.position ?? this.queue.at(-1)?.position;
    this.gap = {
      reason: this.gap ? `${this.gap.reason}; ${reason}` : reason,
      position: position ?? before,
      released: released || this.gap?.released === true,
    };
    this.queue = [];
    this.held = 0;
    this.notify();
  }

  /** The feed failed: the next `take` throws `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  /** Whether nothing is waiting to be taken (no transaction, gap or failure). */
  get empty(): boolean {
    return this.queue.length === 0 && !this.gap && !this.failure;
  }

  /** See ChangeFeed.take. */
  async take(options: {
    readonly maxKeys: number;
    readonly waitMs: number;
    readonly signal?: AbortSignal | undefined;
  }): Promise<ChangeBatch> {
    if (this.empty && options.waitMs > 0 && !options.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, options.waitMs);
        options.signal?.addEventListener("abort", done, { once: true });
        this.wake = done;
      });
    }
    if (this.failure) throw this.failure;
    if (this.gap) {
      const { reason, position, released } = this.gap;
      this.gap = undefined;
      return { keys: [], position, gap: reason, ...(released ? { released } : {}) };
    }
    const seen = new Map<string, Key>();
    // The newest change of a key decides its image: one without a row takes an older one's away.
    const images = new Map<string, RowImage | null>();
    let position: string | undefined;
    while (this.queue.length && (seen.size === 0 || seen.size < options.maxKeys)) {
      const t = this.queue.shift()!;
      this.held -= t.keys.length;
      for (const k of t.keys) {
        const id = keyId(k);
        seen.set(id, k);
        const image = t.images?.get(id);
        if (image === undefined) images.delete(id);
        else images.set(id, image);
      }
      position = t.position;
    }
    return { keys: [...seen.values()], position, ...(images.size ? { images } : {}) };
  }

  private notify(): void {
    this.wake?.();
  }
}
