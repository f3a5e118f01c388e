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
 * leader must stop scheduling (and may campaign again: `acquire` after a loss). Passes also hold their
 * dataset's pass lease, so even then no pass runs twice.
 */
export class Leadership {
  private timer: NodeJS.Timeout | undefined;
  /** Set by `release`: no more campaigning or renewing. */
  private released = false;

  constructor(
    private readonly state: StateStore,
    private readonly owner: string,
    private readonly now: () => number,
    private readonly ttlMs = LEADER_TTL_MS,
  ) {}

  /** Resolves once this process leads; `waiting` is told who leads meanwhile (once per leader seen). */
  async acquire(signal: AbortSignal, waiting: (leader: string) => void): Promise<boolean> {
    let seen: string | undefined;
    while (!signal.aborted && !this.released) {
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
    clearInterval(this.timer);
    let gone = false;
    const timer = setInterval(() => {
      this.state.acquireLease(COORDINATOR_LEASE, this.owner, this.now(), this.ttlMs).then(
        (ok) => {
          if (!ok && !gone && !this.released) {
            gone = true;
            clearInterval(timer);
            lost();
          }
        },
        // The store did not answer: the next tick tries again (the lease runs out only after the TTL).
        () => {},
      );
    }, this.ttlMs / 3);
    timer.unref();
    this.timer = timer;
  }

  /** Stops renewing and frees the lease, so a standby takes over at once. */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    await this.state.releaseLease(COORDINATOR_LEASE, this.owner).catch(() => {});
  }
}

/** What the coordinator loop drives: a service that schedules while it leads and stands by otherwise. */
export interface Coordinated {
  start(): Promise<void>;
  standby(): Promise<void>;
}

/**
 * A coordinator's life until `signal`: campaign for the lease (a standby meanwhile, serving the read APIs),
 * schedule while leading, and on losing the lease stand by and campaign again — never exit for it. Resolves
 * when the signal is aborted (the caller then stops the service and releases the lease).
 */
export async function coordinate(
  leadership: Leadership,
  service: Coordinated,
  signal: AbortSignal,
  log: (line: string) => void,
  owner: string,
): Promise<void> {
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) resolve("aborted");
    signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  while (!signal.aborted) {
    const leading = await leadership.acquire(signal, (leader) =>
      log(`standby: coordinator ${leader} leads; waiting for its lease`),
    );
    if (!leading) return;
    log(`coordinator: leading as ${owner}`);
    const lost = new Promise<"lost">((resolve) => leadership.keep(() => resolve("lost")));
    await service.start();
    if ((await Promise.race([lost, aborted])) === "aborted") return;
    log("coordinator: lost the coordinator lease; standing by (read APIs stay up) and campaigning again");
    await service.standby();
  }
}
