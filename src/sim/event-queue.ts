/** Virtual time for the simulator: a deterministic queue of timed events. No real clock, no real sleep. */

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void | Promise<void>;
}

/**
 * Events run in (time, insertion) order, so equal times are deterministic. `now` only moves when an
 * event is taken. Async events are awaited before the next one starts: the world is single-threaded.
 */
export class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;
  now = 0;
  /** Events run so far. */
  processed = 0;

  /** Schedules `run` at `now + delay` (virtual milliseconds). */
  after(delay: number, run: () => void | Promise<void>): void {
    this.push({ at: this.now + Math.max(0, delay), seq: this.seq++, run });
  }

  /** Runs events until the queue is empty or the next one is past `until`. Returns how many ran. */
  async runUntil(until: number, stop?: () => boolean): Promise<number> {
    let n = 0;
    for (;;) {
      const next = this.heap[0];
      if (!next || next.at > until || stop?.()) break;
      this.pop();
      this.now = next.at;
      await next.run();
      n++;
      this.processed++;
    }
    if (this.now < until && !stop?.()) this.now = until;
    return n;
  }

  get size(): number {
    return this.heap.length;
  }

  private less(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: Scheduled): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Scheduled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
