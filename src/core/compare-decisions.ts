/** Two policies' decisions over the same divergences, side by side: where they agree and where not. Pure. */
import type { Decision } from "./decide.js";
import { keyId } from "./model.js";

/** One divergence the two policies decide differently. */
export interface Disagreement {
  readonly live: Decision;
  readonly candidate: Decision;
}

/** How two policies' decisions over the same divergences compare. */
export interface DecisionComparison {
  readonly agree: number;
  readonly disagreements: readonly Disagreement[];
}

/**
 * True when two decisions have the same effect: the same action, winning replica and targets, and (for a
 * write) the same record written. The rule and reason may differ (two rules can reach one outcome); an
 * escalation also offers a person the same replicas to pick from.
 */
export function sameEffect(a: Decision, b: Decision): boolean {
  if (a.action !== b.action || (a.source ?? null) !== (b.source ?? null)) return false;
  if (a.targets.length !== b.targets.length || a.targets.some((t, i) => b.targets[i] !== t)) return false;
  if ((a.recordFingerprint ?? null) !== (b.recordFingerprint ?? null)) return false;
  return a.options.length === b.options.length && a.options.every((o, i) => b.options[i] === o);
}

/**
 * Pairs the decisions by key (each list holds one decision per divergence, as `planDataset` makes them) and
 * counts the pairs with the same effect; the rest are disagreements, in the live list's order. Throws when
 * the lists do not cover the same keys: they must come from the same divergences.
 */
export function compareDecisions(
  live: readonly Decision[],
  candidate: readonly Decision[],
): DecisionComparison {
  const byKey = new Map(candidate.map((d) => [keyId(d.key), d]));
  if (byKey.size !== live.length)
    throw new Error("compareDecisions: the two plans decide different divergences");
  let agree = 0;
  const disagreements: Disagreement[] = [];
  for (const l of live) {
    const c = byKey.get(keyId(l.key));
    if (!c) throw new Error("compareDecisions: the two plans decide different divergences");
    if (sameEffect(l, c)) agree++;
    else disagreements.push({ live: l, candidate: c });
  }
  return { agree, disagreements };
}
