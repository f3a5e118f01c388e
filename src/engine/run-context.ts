/** What every stage of a run is handed: the run's id, its state store and clock, and the open replicas. */
import type { Connector } from "../connectors/connector.js";
import type { DetectOptions } from "../detect/detect-divergences.js";
import type { StateStore } from "../state/state-store.js";
import type { OpenEscalations } from "./open-escalations.js";

/** Ports and clock a run needs. Time comes in here so the core stays pure. */
export interface RunContext {
  readonly runId: string;
  readonly state: StateStore;
  readonly now: () => number;
  readonly command: string;
  readonly detect?: Omit<DetectOptions, "range">;
  /**
   * The run's open escalations, read once for all its pieces (see `OpenEscalations`); without it, recording a
   * plan lists them from the state store (a worker's job: one piece).
   */
  readonly escalations?: OpenEscalations | undefined;
  /** `estimate`: the total is an estimate so far (see DetectOptions.onProgress). */
  readonly onProgress?: (dataset: string, done: number, total: number, estimate?: boolean) => void;
}

/** An opened replica of a dataset (datasets list them in config order). */
export interface OpenReplica {
  readonly name: string;
  readonly connector: Connector;
}
