/** One coordinator at a time: the `coordinator` lease in the shared state store, held while renewed. */
import { deadLocalOwner } from "../engine/run-liveness.js";
import type { StateStore } from "../state/state-store.js";

/** The lease name coordinators compete for. */
export const COORDINATOR_LEASE = "coordinator";

/** How long the lease lasts unless renewed; it is renewed every third of it, and standbys try as often. */
export const LEADER_TTL_MS = 15_000;

/**
 * Leader election over the state store's leases (LeaseStore: at most one owner per name at any time). A
 * standby tries every third of the TTL and takes over when the leader stopped renewing (it died, or lost
 * the store), or at once when the leader was a process on this host that no longer exists. The leader
 * renews every third of the TTL; a renewal that fails means another may lead now: `lost` is called and the
 * leader must stop scheduling. Passes also hold their dataset's pass lease, so even then no pass runs twice.
 */
export class Leadership {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly state: StateStore,
    private readonly owner: string,
    private readonly now: () => number,
    private readonly ttlMs = LEADER_TTL_MS,
  ) {}

  /** Resolves once this process leads; `waiting` is told who leads meanwhile (once per leader seen). */
  async acquire(signal: AbortSignal, waiting: (leader: string) => void): Promise<boolean> {
    let seen: string | undefined;
    while (!signal.aborted && !this.stopped) {
      if (await this.state.acquireLease(COORDINATOR_LEASE, this.owner, this.now(), this.ttlMs)) return true;
      const held = await this.state.getLease(COORDINATOR_LEASE);
      if (held && deadLocalOwner(held.owner)) {
        await this.state.releaseLease(COORDINATOR_LEASE, held.owner);
        continue;
      }
      if (held && held.owner !== seen) {
        seen = held.owner;
        waiting(seen);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.ttlMs / 3);
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }
    return false;
  }

  /** Renews the lease every third of the TTL; `lost` once when a renewal is refused. */
  keep(lost: () => void): void {
    this.timer = setInterval(() => {
      this.state.acquireLease(COORDINATOR_LEASE, this.owner, this.now(), this.ttlMs).then(
        (ok) => {
          if (!ok && !this.stopped) {
            this.stopped = true;
            clearInterval(this.timer);
            lost();
          }
        },
        // The store did not answer: the next tick tries again (the lease runs out only after the TTL).
        () => {},
      );
    }, this.ttlMs / 3);
    this.timer.unref();
  }

  /** Stops renewing and frees the lease, so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.state.releaseLease(COORDINATOR_LEASE, this.owner).catch(() => {});
  }
}
