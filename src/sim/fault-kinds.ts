/** The faults the simulator can inject, by name: a list of its own so the CLI's help can show it cheaply. */
export const FAULT_KINDS = [
  "partition",
  "loss",
  "duplicate",
  "reorder",
  "skew",
  "crash",
  "corrupt",
  "write-fault",
  "engine-crash",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
