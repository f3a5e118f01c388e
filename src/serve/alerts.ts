/** Alert delivery for `serve`: turns health snapshots into deduplicated webhook notifications, recorded in the audit log. */
import { ExponentialBackoff, handleWhen, type RetryPolicy, retry } from "cockatiel";
import type { AlertConfig } from "../config/load-config.js";
import { redactText } from "../config/redact.js";
import {
  type AlertIncident,
  type AlertObservation,
  formatAlertCondition,
  type HealthSnapshot,
  observeAlert,
} from "../core/alert-condition.js";

export type { HealthSnapshot } from "../core/alert-condition.js";

/** An audit event the Alerter asks its owner to record (an audit entry of type "alert"). */
export interface AlertEvent {
  readonly type: "alert";
  readonly dataset: string | null;
  /** An {@link AlertRecord}; typed `unknown` to match the audit port. */
  readonly data: unknown;
}

/** What an alert audit entry holds. The webhook is always redacted. */
export interface AlertRecord {
  readonly event: "firing" | "resolved" | "delivery-failed";
  readonly alert: string;
  readonly rule: number;
  readonly incident: string;
  readonly dataset: string | null;
  readonly replica?: string | undefined;
  readonly summary: string;
  readonly value: number | boolean | null;
  /** ISO time of the snapshot (firing, resolved) or of the final failure (delivery-failed). */
  readonly at: string;
  readonly webhook: string;
  /** For delivery-failed: of the notification that was not delivered. */
  readonly status?: "firing" | "resolved" | undefined;
  readonly attempts?: number | undefined;
  readonly error?: string | undefined;
}

/** The JSON body POSTed to a webhook. */
export interface AlertNotification {
  /** The rule's name, or its condition text. */
  readonly alert: string;
  readonly status: "firing" | "resolved";
  /** Stable across the incident's firing and resolved notifications (receivers may deduplicate on it). */
  readonly incident: string;
  readonly dataset: string | null;
  readonly replica?: string | undefined;
  readonly summary: string;
  /** ISO time of the snapshot that started or cleared the incident. */
  readonly at: string;
  /** The measured value (null when a resolved incident is no longer measured). */
  readonly value: number | boolean | null;
}

export interface AlerterDeps {
  /** Appends events to the audit log. Awaited by `evaluate` for firings and resolutions. */
  readonly record: (events: AlertEvent[]) => Promise<void>;
  /** Clock for delivery-failure events (default Date.now). */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly retry?: {
    /** Attempts per notification, the first included (default 5). */
    readonly attempts?: number;
    /** First backoff delay (default 500 ms); later ones grow exponentially, with decorrelated jitter. */
    readonly initialDelayMs?: number;
    readonly maxDelayMs?: number;
  };
  /** Per attempt, response body included (default 10 s). */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** The webhook's scheme, host and port only: paths, queries and credentials often carry the secret. */
export function redactWebhook(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.username !== "" || u.password !== "" || u.pathname.length > 1 || u.search !== "";
    return `${u.protocol}//${u.host}${hidden ? "/***" : ""}`;
  } catch {
    return "***";
  }
}

/** A message with every secret-bearing part of `url` (the whole URL, its path, query, credentials) hidden. */
function scrub(message: string, url: string): string {
  let out = message.replaceAll(url, redactWebhook(url));
  try {
    const u = new URL(url);
    out = out.replaceAll(u.href, redactWebhook(url));
    if (u.pathname.length > 1) out = out.replaceAll(u.pathname, "/***");
    for (const part of [u.search, u.password, decodeURIComponent(u.password), u.username])
      if (part.length > 1) out = out.replaceAll(part, "***");
  } catch {
    // Not a URL: nothing more to find in the message.
  }
  return redactText(out).split("\n")[0]!;
}

/** A failed attempt worth repeating: a network error, a timeout, a 5xx or a 429. */
class RetryableDeliveryError extends Error {
  override readonly name = "RetryableDeliveryError";
}

/** A failure retrying cannot fix (any other non-2xx). */
class PermanentDeliveryError extends Error {
  override readonly name = "PermanentDeliveryError";
}

interface ActiveIncident {
  readonly incident: AlertIncident;
  readonly rule: AlertConfig;
}

/** A notification with the rule it comes from. */
interface Outgoing {
  readonly rule: AlertConfig;
  readonly index: number;
  readonly n: AlertNotification;
}

/**
 * Evaluates alert rules against health snapshots and notifies their webhooks.
 *
 * Each incident (rule × dataset × replica) fires once when it starts and stays silent while it holds;
 * when it clears a `resolved` notification follows, and if it comes back it fires again. Firings and
 * resolutions are recorded through `deps.record` before `evaluate` returns; deliveries run in the
 * background (POST with a timeout, retried with exponential backoff and jitter on network errors, 5xx and
 * 429), so a slow receiver never holds up `serve`. A notification that is never delivered is recorded as
 * `delivery-failed`. The notifications of one incident are delivered in order. Incidents live in memory:
 * after a restart, conditions that still hold fire again.
 */
export class Alerter {
  private readonly active = new Map<string, ActiveIncident>();
  /** The last delivery of each incident, so `resolved` never overtakes its `firing`. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly policy: RetryPolicy;
  private readonly attempts: number;
  private closed = false;

  constructor(
    private readonly rules: readonly AlertConfig[],
    private readonly deps: AlerterDeps,
  ) {
    this.attempts = Math.max(1, deps.retry?.attempts ?? 5);
    this.policy = retry(
      handleWhen((err) => err instanceof RetryableDeliveryError),
      {
        maxAttempts: this.attempts - 1,
        backoff: new ExponentialBackoff({
          initialDelay: deps.retry?.initialDelayMs ?? 500,
          maxDelay: deps.retry?.maxDelayMs ?? 30_000,
        }),
      },
    ).dangerouslyUnref();
  }

  /**
   * Compares the snapshot with the incidents already open: records and notifies the new ones and the
   * cleared ones. Resolves once they are recorded; rejects only if recording fails (the notifications are
   * sent regardless, and the incidents count as notified, so they are not repeated).
   */
  async evaluate(snapshot: HealthSnapshot): Promise<void> {
    if (this.closed) throw new Error("Alerter is closed");
    const at = new Date(snapshot.at).toISOString();
    const seen = new Map<string, AlertObservation>();
    const changes: Outgoing[] = [];
    const change = (
      rule: AlertConfig,
      status: AlertNotification["status"],
      o: Pick<AlertObservation, "key" | "rule" | "dataset" | "replica" | "summary">,
      value: AlertNotification["value"],
    ) =>
      changes.push({
        rule,
        index: o.rule,
        n: {
          alert: alertName(rule),
          status,
          incident: o.key,
          dataset: o.dataset,
          ...(o.replica !== undefined ? { replica: o.replica } : {}),
          summary: o.summary,
          at,
          value,
        },
      });
    for (const [index, rule] of this.rules.entries()) {
      for (const obs of observeAlert(rule.condition, snapshot, { rule: index, dataset: rule.dataset })) {
        seen.set(obs.key, obs);
        if (obs.active && !this.active.has(obs.key)) {
          this.active.set(obs.key, { incident: obs as AlertIncident, rule });
          change(rule, "firing", obs, obs.value);
        }
      }
    }
    for (const [key, open] of this.active) {
      const now = seen.get(key);
      if (now?.active) continue;
      this.active.delete(key);
      if (now) change(open.rule, "resolved", now, now.value);
      else change(open.rule, "resolved", { ...open.incident, summary: clearedSummary(open) }, null);
    }
    if (changes.length === 0) return;
    for (const out of changes) {
      this.deps.log?.(`alert ${out.n.status}: ${out.n.alert}: ${out.n.summary}`);
      this.deliver(out);
    }
    await this.deps.record(changes.map((out) => this.event(out, {})));
  }

  /** Resolves when every delivery started so far has succeeded or been recorded as failed. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Stops: no more evaluations, retries stop waiting, requests in flight are aborted; what was not
   * delivered is recorded as `delivery-failed`. Call `flush()` first to give deliveries their full
   * retries; close the audit log only after this resolves.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort(new Error("alerter closed"));
    await this.flush();
  }

  private event({ rule, index, n }: Outgoing, extra: Partial<AlertRecord>): AlertEvent {
    const data: AlertRecord = {
      event: n.status,
      alert: n.alert,
      rule: index,
      incident: n.incident,
      dataset: n.dataset,
      ...(n.replica !== undefined ? { replica: n.replica } : {}),
      summary: n.summary,
      value: n.value,
      at: n.at,
      webhook: redactWebhook(rule.webhook),
      ...extra,
    };
    return { type: "alert", dataset: n.dataset, data };
  }

  /** Queues `n` behind the incident's previous notification; never rejects. */
  private deliver(out: Outgoing): void {
    const { n } = out;
    const previous = this.tails.get(n.incident) ?? Promise.resolve();
    const done = previous.then(() => this.send(out));
    this.tails.set(n.incident, done);
    this.pending.add(done);
    void done.finally(() => {
      this.pending.delete(done);
      if (this.tails.get(n.incident) === done) this.tails.delete(n.incident);
    });
  }

  private async send(out: Outgoing): Promise<void> {
    const { rule, n } = out;
    const where = redactWebhook(rule.webhook);
    let attempts = 0;
    const signal = this.abort.signal;
    try {
      if (signal.aborted) throw signal.reason;
      const delivery = this.policy.execute(async () => {
        if (signal.aborted) throw signal.reason;
        attempts++;
        return this.post(rule.webhook, n, signal);
      }, signal);
      // Cockatiel's backoff sleep is not abortable: race it so close() returns at once.
      delivery.catch(() => {});
      await untilAborted(delivery, signal);
      this.deps.log?.(`alert ${n.status} delivered to ${where}: ${n.alert}`);
    } catch (err) {
      const error = scrub(err instanceof Error ? err.message : String(err), rule.webhook);
      this.deps.log?.(
        `alert ${n.status} not delivered to ${where} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${error}`,
      );
      try {
        await this.deps.record([
          this.event(out, {
            event: "delivery-failed",
            status: n.status,
            at: new Date((this.deps.now ?? Date.now)()).toISOString(),
            attempts,
            error,
          }),
        ]);
      } catch (recordErr) {
        this.deps.log?.(
          `alert delivery failure not recorded: ${scrub(recordErr instanceof Error ? recordErr.message : String(recordErr), rule.webhook)}`,
        );
      }
    }
  }

  /** One attempt: POST the JSON, bounded by the timeout (body included). */
  private async post(url: string, n: AlertNotification, closing: AbortSignal): Promise<void> {
    const timeoutMs = this.deps.timeoutMs ?? 10_000;
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const onClose = () => attempt.abort(closing.reason);
    closing.addEventListener("abort", onClose, { once: true });
    const { target, authorization } = splitCredentials(url);
    let res: Response;
    try {
      res = await (this.deps.fetch ?? fetch)(target, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "concord-alerts",
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify(n),
        signal: attempt.signal,
        // A followed 301/302 would turn the POST into a GET; report redirects instead.
        redirect: "manual",
      });
      // Read the body so the connection is released, within the same timeout.
      await res.arrayBuffer();
    } catch (err) {
      if (closing.aborted) throw closing.reason;
      if (attempt.signal.aborted) throw new RetryableDeliveryError((attempt.signal.reason as Error).message);
      const e = err as Error & { cause?: { code?: string; message?: string } };
      throw new RetryableDeliveryError(
        [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(": "),
      );
    } finally {
      clearTimeout(timer);
      closing.removeEventListener("abort", onClose);
    }
    if (res.ok) return;
    const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    if (res.status >= 500 || res.status === 429) throw new RetryableDeliveryError(status);
    throw new PermanentDeliveryError(`${status} (not retried)`);
  }
}

/** fetch refuses URLs with credentials: send `user:pass@` as Basic authorization instead. */
function splitCredentials(url: string): { target: string; authorization?: string } {
  const u = new URL(url);
  if (u.username === "" && u.password === "") return { target: url };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = "";
  u.password = "";
  return { target: u.href, authorization: `Basic ${Buffer.from(pair).toString("base64")}` };
}

function alertName(rule: AlertConfig): string {
  return rule.name ?? formatAlertCondition(rule.condition);
}

/** The summary of an incident that cleared because it is no longer measured. */
function clearedSummary(open: ActiveIncident): string {
  const { incident, rule } = open;
  const where = incident.replica !== undefined ? `${incident.dataset}/${incident.replica}` : incident.dataset;
  if (rule.condition.kind === "replica-down") return `${where}: replica reachable again`;
  return `${where ?? "all datasets"}: no longer ${formatAlertCondition(rule.condition)}`;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts; leaves no listener behind. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
