/** The simulator's invariants, checked on every run: convergence, no lost acknowledged write, no double apply, no oscillation, intact audit, justified escalations. */
import type { AuditChainVerdict, AuditEntry } from "../core/audit-chain.js";
import { keyId } from "../core/model.js";
import { compareVectors, parseVersionVector } from "../core/version.js";
import type { Escalation } from "../state/state-store.js";
import type { Row } from "./sim-replica.js";
import { SimWorld, type TraceEvent } from "./sim-world.js";

/** One invariant's verdict; a violation names the key and carries its minimal trace. */
export interface Checked {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly key?: string;
  readonly trace?: readonly TraceEvent[];
}

export interface CheckInput {
  readonly world: SimWorld;
  readonly audit: readonly AuditEntry[];
  readonly chain: AuditChainVerdict;
  readonly openEscalations: readonly Escalation[];
  readonly ownerDeclared: boolean;
  readonly convergedAt: number | null;
  readonly healedAt: number;
  readonly boundMs: number;
  /** Epoch milliseconds of virtual time 0 (audit timestamps are epoch milliseconds). */
  readonly epochMs: number;
}

function fail(name: string, detail: string, world: SimWorld, key?: string): Checked {
  return { name, ok: false, detail, ...(key ? { key, trace: world.traces.get(key) ?? [] } : {}) };
}

/** Whether the final row keeps the acknowledged writes the policy says must survive. */
function survives(world: SimWorld, id: string, final: Row | undefined): string | undefined {
  const acked = world.acked.get(id);
  if (!acked || acked.length === 0) return undefined;
  const { writers, versions } = world.options;
  if (writers === "primary") {
    const last = acked.at(-1)!;
    const want = SimWorld.rowText(last.row ?? undefined);
    const got = SimWorld.rowText(final);
    // Under last-writer-wins the primary's write survives unless a newer timestamp replaced it: a write made
    // with a clock skewed behind a record's timestamp is older by the rule the replicas (and Concord) follow.
    const newer =
      versions === "timestamp" && last.row && final && (final.updated_at ?? "") > (last.row.updated_at ?? "");
    return want === got || newer
      ? undefined
      : `last acknowledged write on the primary was ${want}, replicas hold ${got}`;
  }
  if (!final) return "an acknowledged write exists but the record is gone everywhere";
  for (const w of acked) {
    if (!w.row) continue;
    const lost =
      versions === "counter"
        ? Number(final.version) < Number(w.row.version)
        : versions === "timestamp"
          ? (final.updated_at ?? "") < (w.row.updated_at ?? "")
          : !["after", "equal"].includes(
              compareVectors(parseVersionVector(final.vv ?? "{}"), parseVersionVector(w.row.vv ?? "{}")),
            );
    if (lost)
      return `acknowledged ${w.row.value} (${w.row.version}, ${w.row.updated_at}, ${w.row.vv}) was overwritten by ${SimWorld.rowText(final)}`;
  }
  return undefined;
}

export function checkInvariants(input: CheckInput): Checked[] {
  const { world, audit } = input;
  const out: Checked[] = [];
  const escalated = new Set(input.openEscalations.map((e) => keyId(e.key)));

  // 1. Convergence within the bound after every fault healed.
  const divergentKey = world.allKeys().find((k) => {
    if (escalated.has(keyId(k))) return false;
    return new Set(world.rowsOf(k).map((r) => SimWorld.rowText(r))).size > 1;
  });
  if (input.convergedAt === null) {
    out.push(
      fail(
        "converges",
        `replicas never converged after healing at ${input.healedAt}ms`,
        world,
        divergentKey && keyId(divergentKey),
      ),
    );
  } else if (input.convergedAt - input.healedAt > input.boundMs) {
    out.push(
      fail(
        "converges",
        `converged ${Math.round(input.convergedAt - input.healedAt)}ms after healing, over the ${input.boundMs}ms bound`,
        world,
      ),
    );
  } else {
    out.push({
      name: "converges",
      ok: true,
      detail: `within ${input.convergedAt - input.healedAt}ms of healing (bound ${input.boundMs}ms)`,
    });
  }

  // 2. No acknowledged write the policy says must survive is lost.
  const corrupted = new Set(
    world.traces.size
      ? [...world.traces]
          .filter(([, t]) => t.some((e) => e.what.startsWith("silent corruption")))
          .map(([k]) => k)
      : [],
  );
  let lost: Checked | undefined;
  for (const key of world.allKeys()) {
    const id = keyId(key);
    if (escalated.has(id) || corrupted.has(id)) continue;
    const rows = world.rowsOf(key);
    if (new Set(rows.map((r) => SimWorld.rowText(r))).size > 1) continue;
    const why = survives(world, id, rows[0]);
    if (why) {
      lost = fail("no-lost-writes", why, world, id);
      break;
    }
  }
  out.push(lost ?? { name: "no-lost-writes", ok: true });

  // 2b. No Concord write landed on a record changed since detection observed it (conditional writes).
  const clobber = world.clobbers[0];
  out.push(
    clobber
      ? fail(
          "no-clobber",
          `a repair on ${clobber.replica} overwrote ${clobber.before ?? "absence"}; detection had seen ${clobber.expected ?? "absence"}`,
          world,
          clobber.key,
        )
      : { name: "no-clobber", ok: true },
  );

  // 3. A repair id is applied at most once; 4. no key is repaired back and forth.
  const appliedById = new Map<string, number>();
  const keyOfRepair = new Map<string, string>();
  const written = new Map<string, { ts: number; fp: string }[]>();
  for (const e of audit) {
    if (e.type !== "applied") continue;
    const d = e.data as { repair?: string; target?: string; written?: string | null };
    if (d.repair) {
      appliedById.set(d.repair, (appliedById.get(d.repair) ?? 0) + 1);
      if (e.key) keyOfRepair.set(d.repair, e.key);
    }
    const slot = `${e.key}@${d.target}`;
    const list = written.get(slot) ?? [];
    list.push({ ts: e.ts, fp: d.written ?? "absent" });
    written.set(slot, list);
  }
  const twice = [...appliedById].find(([, n]) => n > 1);
  out.push(
    twice
      ? fail(
          "applied-once",
          `repair ${twice[0]} was applied ${twice[1]} times`,
          world,
          keyOfRepair.get(twice[0]),
        )
      : { name: "applied-once", ok: true },
  );
  // A key repaired back to a state it held before, with no client write in between, is flip-flopping.
  let oscillating: Checked | undefined;
  for (const [slot, writes] of written) {
    const key = slot.slice(0, slot.lastIndexOf("@"));
    const clientTimes = (world.acked.get(key) ?? []).map((w) => input.epochMs + w.at);
    let seen = new Set<string>();
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      if (i > 0 && clientTimes.some((t) => t > writes[i - 1]!.ts && t <= w.ts)) seen = new Set();
      if (i > 0 && w.fp !== writes[i - 1]!.fp && seen.has(w.fp)) {
        oscillating = fail(
          "no-oscillation",
          `${slot} was repaired back to a state it held before`,
          world,
          key,
        );
        break;
      }
      seen.add(w.fp);
    }
    if (oscillating) break;
  }
  out.push(oscillating ?? { name: "no-oscillation", ok: true });

  // 5. The audit chain verifies.
  out.push(
    input.chain.ok
      ? { name: "audit-chain", ok: true, detail: `${input.chain.count} entries` }
      : fail("audit-chain", input.chain.problem, world),
  );

  // 6. Escalations only where the policy must: with a static owner nothing but schema or ambiguity escalates.
  let unjustified: Checked | undefined;
  if (input.ownerDeclared) {
    for (const e of audit) {
      if (e.type !== "decided") continue;
      const d = e.data as { action?: string; rule?: string; reason?: string };
      if (d.action === "escalate" && d.rule !== "schema" && d.rule !== "escalate.ambiguity") {
        unjustified = fail(
          "justified-escalations",
          `escalated although the owner decides: ${d.reason}`,
          world,
          e.key ?? undefined,
        );
        break;
      }
    }
  }
  out.push(unjustified ?? { name: "justified-escalations", ok: true });
  return out;
}
