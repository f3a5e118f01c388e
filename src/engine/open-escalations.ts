/**
 * A run's view of its dataset's open escalations: read from the state store once, a page at a time, when
 * the run's first plan is recorded, and kept as the run opens and closes them. Writes nothing itself.
 */
import { type EscalationRecord, type OpenEscalation, openEscalation } from "../core/plan-record.js";
import type { StateStore } from "../state/state-store.js";

/**
 * Escalations per listing while the open ones are first read: each page's whole records live until kept in
 * part. A page after another is a stretch of the state store's `escalations_order` index.
 */
const PAGE = 1000;

/**
 * The open escalations of one dataset as a run sees them. Read once (`current`), then kept by the run's own
 * openings (`opened`) and closings (`closed`), so recording a plan costs no listing per piece, however many
 * escalations are open. Escalations another process opens while the run goes on are not seen by it: a later
 * run closes them when they no longer hold. Memory: what a run needs of each open escalation (id, key,
 * class, columns, when opened; `OpenEscalation`), about 200 bytes each, never the records' observations,
 * reasons and options (a repair that escalated 100,000 divergences held 320 MB with whole records).
 */
export class OpenEscalations {
  /** Undefined until first read. */
  private open: Map<string, OpenEscalation> | undefined;
  /** The first read while it is under way: pieces recorded at once (a worker's jobs of one pass) share it. */
  private reading: Promise<void> | undefined;
  /** One array per distinct list of differing columns, shared by every escalation that has it. */
  private readonly columnLists = new Map<string, readonly string[]>();

  constructor(
    private readonly state: Pick<StateStore, "listEscalations">,
    private readonly dataset: string,
  ) {}

  /** The dataset's open escalations, in list order (oldest first, then as opened); live, not a copy. */
  async current(): Promise<Iterable<OpenEscalation>> {
    this.reading ??= this.read().then(
      (open) => {
        this.open = open;
      },
      (err: unknown) => {
        // Read again by the next piece.
        this.reading = undefined;
        throw err;
      },
    );
    await this.reading;
    return (this.open ?? new Map<string, OpenEscalation>()).values();
  }

  /** Escalations the run opened (or opened again). */
  opened(list: readonly EscalationRecord[]): void {
    if (!this.open) return;
    for (const e of list) {
      this.open.delete(e.id);
      this.open.set(e.id, this.kept(e));
    }
  }

  /** An escalation the run closed, or found closed already. */
  closed(id: string): void {
    this.open?.delete(id);
  }

  /** What is kept of `e`: its differing columns as the list shared by every escalation with the same ones. */
  private kept(e: EscalationRecord): OpenEscalation {
    const columns = e.columns;
    if (columns === undefined) return openEscalation(e);
    const name = columns.join("\u0000");
    let shared = this.columnLists.get(name);
    if (!shared) {
      shared = columns;
      this.columnLists.set(name, shared);
    }
    return openEscalation({ ...e, columns: shared });
  }

  /** Keyset pages in list order (stable while others close them), each record kept only in part. */
  private async read(): Promise<Map<string, OpenEscalation>> {
    const open = new Map<string, OpenEscalation>();
    let after: string | undefined;
    for (;;) {
      const page = await this.state.listEscalations({
        status: "open",
        dataset: this.dataset,
        after,
        limit: PAGE,
      });
      for (const e of page) open.set(e.id, this.kept(e));
      if (page.length < PAGE) return open;
      after = page[page.length - 1]!.id;
    }
  }
}
