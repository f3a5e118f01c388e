/** A coordinator's job queue in memory for serve tests: jobs go to a real SegmentWorkerHost, one per poll. */
import type {
  QueueDepth,
  SegmentDispatch,
  SegmentJob,
  SegmentJobResult,
  SegmentProgress,
} from "../../src/engine/segment-dispatch.js";
import type { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";

/** Without a host, jobs wait (a pass stays in flight until stopped). */
export class InlineQueue implements SegmentDispatch {
  host: SegmentWorkerHost | undefined;
  readonly waiting = new Map<string, SegmentJob>();
  readonly results = new Map<string, SegmentJobResult>();
  readonly ran: SegmentJob[] = [];
  async submit(jobs: readonly SegmentJob[]): Promise<void> {
    for (const j of jobs) {
      const id = `${j.runId}.${j.index}`;
      if (!this.waiting.has(id) && !this.results.has(id)) this.waiting.set(id, j);
    }
  }
  async poll(
    _d: string,
    runId: string,
    indexes: readonly number[],
    waitMs: number,
  ): Promise<SegmentProgress> {
    const [next] = this.waiting;
    if (next && this.host) {
      const [id, job] = next;
      this.waiting.delete(id);
      const result = await this.host.handle(job, 1);
      if (!result.skipped) this.ran.push(job);
      this.results.set(id, result);
    }
    // Nothing to run: wait as a real queue would, so a coordinator does not spin.
    else await new Promise((r) => setTimeout(r, Math.min(waitMs, 50)));
    const done = new Map<number, SegmentJobResult>();
    for (const i of indexes) {
      const r = this.results.get(`${runId}.${i}`);
      if (r) done.set(i, r);
    }
    return { done, failed: new Map() };
  }
  async forget(_d: string, runId: string, indexes: readonly number[]): Promise<void> {
    for (const i of indexes) this.results.delete(`${runId}.${i}`);
  }
  async depths(): Promise<QueueDepth[]> {
    return [];
  }
}
