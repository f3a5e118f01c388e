/**
 * A run's view of its dataset's open escalations: read from the state store once, when the run's first plan
 * is recorded, and kept as the run opens and closes them. Writes nothing itself.
 */
import type { EscalationRecord } from "../core/plan-record.js";
import type { StateStore } from "../state/state-store.js";

/**
 * The open escalations of one dataset as a run sees them. Read once (`current`), then kept by the run's own
 * openings (`opened`) and closings (`closed`), so recording a plan costs no listing per piece, however many
 * escalations are open. Escalations another process opens while the run goes on are not seen by it: a later
 * run closes them when they no longer hold. Memory: the dataset's open escalations, as one listing held them.
 */
export class OpenEscalations {
  /** Undefined until first read. */
  private open: Map<string, EscalationRecord> | undefined;
  /** The first read while it is under way: pieces recorded at once (a worker's jobs of one pass) share it. */
  private reading: Promise<void> | undefined;

  constructor(
    private readonly state: Pick<StateStore, "listEscalations">,
    private readonly dataset: string,
  ) {}

  /** The dataset's open escalations, in list order (oldest first, then as opened). */
  async current(): Promise<readonly EscalationRecord[]> {
    this.reading ??= this.state.listEscalations({ status: "open", dataset: this.dataset }).then(
      (list) => {
        this.open = new Map(list.map((e) => [e.id, e]));
      },
      (err: unknown) => {
        // Read again by the next piece.
        this.reading = undefined;
        throw err;
      },
    );
    await this.reading;
    return [...(this.open ?? new Map<string, EscalationRecord>()).values()];
  }

  /** Escalations the run opened (or opened again). */
  opened(list: readonly EscalationRecord[]): void {
    if (!this.open) return;
    for (const e of list) {
      this.open.delete(e.id);
      this.open.set(e.id, e);
    }
  }

  /** An escalation the run closed, or found closed already. */
  closed(id: string): void {
    this.open?.delete(id);
  }
}
