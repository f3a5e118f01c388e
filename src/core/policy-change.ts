/** The audit entry a change of a dataset's policy writes: from which version to which, by whom, and the diff. Pure. */
import type { AuditEntryContent } from "./audit-chain.js";
import { diffLines, formatDiff } from "./line-diff.js";

/** A policy version about to be adopted by a run. */
export interface PolicyChange {
  readonly dataset: string;
  readonly runId: string;
  readonly at: number;
  readonly version: string;
  readonly text: string;
  readonly source: string;
  readonly by: string;
}

/**
 * The `policy-changed` entry of `next` replacing `previous` (undefined: the dataset's first policy, whose
 * diff is its whole text added). `diff` holds every line of both texts, prefixed "- ", "+ " or "  ", so the
 * new text can be read from the entry alone.
 */
export function policyChangedEvent(
  next: PolicyChange,
  previous: { readonly version: string; readonly text: string } | undefined,
): Omit<AuditEntryContent, "seq"> {
  return {
    ts: next.at,
    runId: next.runId,
    type: "policy-changed",
    dataset: next.dataset,
    key: null,
    data: {
      from: previous?.version ?? null,
      to: next.version,
      by: next.by,
      source: next.source,
      diff: formatDiff(diffLines(previous?.text ?? "", next.text)).split("\n"),
    },
  };
}
