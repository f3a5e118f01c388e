import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AlertConfig } from "../config/load-config.js";
import { parseAlertCondition } from "../core/alert-condition.js";
import { type AlertEvent, Alerter, type AlerterDeps, type HealthSnapshot, redactWebhook } from "./alerts.js";

/** A real webhook receiver on 127.0.0.1: answers each request with the next scripted status (default 200). */
interface Receiver {
  readonly url: string;
  readonly requests: { path: string; headers: IncomingHttpHeaders; body: Record<string, unknown> }[];
  /** Statuses for the next requests, in order; "hang" never answers. */
  readonly script: (number | "hang")[];
  fallback: number | "hang";
  /** Resolves once `n` requests have arrived (the moment the n-th arrives; no polling). */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r = {
    requests: [] as Receiver["requests"],
    script: [] as Receiver["script"],
    fallback: 200 as Receiver["fallback"],
  };
  const waiting: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => {
      r.requests.push({ path: req.url ?? "", headers: req.headers, body: JSON.parse(text) });
      for (const w of waiting.filter((w) => r.requests.length >= w.n)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
      const status = r.script.shift() ?? r.fallback;
      if (status === "hang") return;
      res.writeHead(status, { "content-type": "text/plain" }).end("thanks");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}`,
    received: (n: number) =>
      r.requests.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Far longer than any test runs: an alerter that waited this long would fail by the test's timeout. */
const HOUR = 3_600_000;

function rule(when: string, webhook: string, extra: Partial<AlertConfig> = {}): AlertConfig {
  const condition = parseAlertCondition(when);
  return { when, condition, webhook, ...extra };
}

function snapshot(at: number, down: string[] = [], failed = 0): HealthSnapshot {
  return {
    at,
    auditOk: true,
    datasets: [
      {
        name: "customers",
        lagSeconds: { reporting: 1 },
        openEscalations: 0,
        replicasDown: down,
        lastRunFailedRepairs: failed,
      },
    ],
  };
}

let receiver: Receiver;
let recorded: AlertEvent[];
let logs: string[];
let alerter: Alerter | undefined;

function makeAlerter(rules: AlertConfig[], deps: Partial<AlerterDeps> = {}): Alerter {
  alerter = new Alerter(rules, {
    record: async (events) => {
      recorded.push(...events);
    },
    now: () => Date.UTC(2026, 0, 1),
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: 2000,
    log: (line) => logs.push(line),
    ...deps,
  });
  return alerter;
}

const data = (e: AlertEvent) => e.data as Record<string, unknown>;

beforeEach(async () => {
  receiver = await startReceiver();
  recorded = [];
  logs = [];
});

afterEach(async () => {
  await alerter?.close();
  alerter = undefined;
  await receiver.close();
});

describe("Alerter: incidents", () => {
  it("fires once per incident across evaluations, resolves, and fires again when it comes back", async () => {
    const a = makeAlerter([rule("replica-down", `${receiver.url}/hook`, { name: "replica down" })]);
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.evaluate(snapshot(2000, ["cache"]));
    await a.evaluate(snapshot(3000, ["cache"]));
    await a.flush();
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.path).toBe("/hook");
    expect(receiver.requests[0]!.headers["content-type"]).toBe("application/json");
    expect(receiver.requests[0]!.body).toEqual({
      alert: "replica down",
      status: "firing",
      incident: '[0,"customers","cache"]',
      dataset: "customers",
      replica: "cache",
      summary: "customers/cache: replica unreachable on its last contact",
      at: "1970-01-01T00:00:01.000Z",
      value: true,
    });

    await a.evaluate(snapshot(4000));
    await a.evaluate(snapshot(5000));
    await a.flush();
    expect(receiver.requests.map((r) => r.body.status)).toEqual(["firing", "resolved"]);
    expect(receiver.requests[1]!.body).toMatchObject({
      status: "resolved",
      incident: '[0,"customers","cache"]',
      summary: "customers/cache: replica reachable again",
      at: "1970-01-01T00:00:04.000Z",
      value: null,
    });

    await a.evaluate(snapshot(6000, ["cache"]));
    await a.flush();
    expect(receiver.requests.map((r) => r.body.status)).toEqual(["firing", "resolved", "firing"]);
    expect(recorded.map((e) => [e.type, e.dataset, data(e).event, data(e).incident])).toEqual([
      ["alert", "customers", "firing", '[0,"customers","cache"]'],
      ["alert", "customers", "resolved", '[0,"customers","cache"]'],
      ["alert", "customers", "firing", '[0,"customers","cache"]'],
    ]);
  });

  it("keeps incidents of different replicas and rules apart, and resolves with the current value", async () => {
    const a = makeAlerter([
      rule("replica-down", `${receiver.url}/a`),
      rule("repair-failures > 0", `${receiver.url}/b`, { dataset: "customers" }),
    ]);
    await a.evaluate(snapshot(1000, ["cache", "reporting"], 2));
    await a.evaluate(snapshot(2000, ["reporting"], 0));
    await a.flush();
    const seen = receiver.requests.map((r) => [r.path, r.body.status, r.body.incident, r.body.value]);
    expect(seen).toHaveLength(5);
    expect(seen).toEqual(
      expect.arrayContaining([
        ["/a", "firing", '[0,"customers","cache"]', true],
        ["/a", "firing", '[0,"customers","reporting"]', true],
        ["/b", "firing", '[1,"customers"]', 2],
        ["/a", "resolved", '[0,"customers","cache"]', null],
        ["/b", "resolved", '[1,"customers"]', 0],
      ]),
    );
    const resolved = receiver.requests.find((r) => r.path === "/b" && r.body.status === "resolved")!;
    expect(resolved.body.summary).toBe("customers: 0 failed repairs in the last run (alert when > 0)");
    expect(resolved.body.alert).toBe("repair-failures > 0");
  });

  it("records before evaluate returns but does not wait for a slow receiver", async () => {
    // The receiver never answers and the attempt would wait an hour: evaluate resolving at all shows it
    // does not wait for delivery (no clock involved).
    receiver.fallback = "hang";
    const a = makeAlerter([rule("replica-down", receiver.url)], { timeoutMs: HOUR });
    await a.evaluate(snapshot(1000, ["cache"]));
    expect(recorded.map((e) => data(e).event)).toEqual(["firing"]);
    await receiver.received(1);
  });
});

describe("Alerter: delivery", () => {
  it("retries after a 500 and a 503, then succeeds without recording a failure", async () => {
    receiver.script.push(500, 503);
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      retry: { attempts: 4, initialDelayMs: 5, maxDelayMs: 20 },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(receiver.requests).toHaveLength(3);
    expect(new Set(receiver.requests.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(recorded.map((e) => data(e).event)).toEqual(["firing"]);
    expect(logs.some((l) => l.includes("firing delivered"))).toBe(true);
  });

  it("retries a 429", async () => {
    receiver.script.push(429);
    const a = makeAlerter([rule("replica-down", receiver.url)]);
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(receiver.requests).toHaveLength(2);
    expect(recorded.map((e) => data(e).event)).toEqual(["firing"]);
  });

  it("gives up after the configured attempts and records the failure", async () => {
    receiver.fallback = 500;
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(receiver.requests).toHaveLength(3);
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toEqual({
      type: "alert",
      dataset: "customers",
      data: {
        event: "delivery-failed",
        status: "firing",
        alert: "replica-down",
        rule: 0,
        incident: '[0,"customers","cache"]',
        dataset: "customers",
        replica: "cache",
        summary: "customers/cache: replica unreachable on its last contact",
        value: true,
        at: "2026-01-01T00:00:00.000Z",
        webhook: receiver.url,
        attempts: 3,
        error: "HTTP 500 Internal Server Error",
      },
    });
  });

  it("does not retry a 400", async () => {
    receiver.fallback = 400;
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      retry: { attempts: 5, initialDelayMs: 5, maxDelayMs: 20 },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(receiver.requests).toHaveLength(1);
    expect(data(recorded[1]!)).toMatchObject({
      event: "delivery-failed",
      attempts: 1,
      error: "HTTP 400 Bad Request (not retried)",
    });
  });

  it("retries a refused connection and names the cause", async () => {
    const closed = await startReceiver();
    await closed.close();
    const a = makeAlerter([rule("replica-down", closed.url)]);
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(data(recorded[1]!)).toMatchObject({ event: "delivery-failed", attempts: 3 });
    expect(data(recorded[1]!).error).toMatch(/ECONNREFUSED/);
  });

  it("times out an attempt that gets no answer, and retries it", async () => {
    receiver.fallback = "hang";
    // Attempts are counted where the alerter makes them: on a loaded machine 50 ms may pass before a
    // request reaches the receiver, so the receiver's count could be lower.
    let attempts = 0;
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      timeoutMs: 50,
      retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
      fetch: (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(attempts).toBe(2);
    expect(data(recorded[1]!)).toMatchObject({ attempts: 2, error: "timed out after 50 ms" });
  });

  it("delivers an incident's resolved notification after its firing, even when the firing is retried", async () => {
    receiver.script.push(500, 500);
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 40 },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.evaluate(snapshot(2000));
    await a.flush();
    expect(receiver.requests.map((r) => r.body.status)).toEqual(["firing", "firing", "firing", "resolved"]);
  });

  it("close() stops waiting retries at once and records what was not delivered", async () => {
    receiver.fallback = 500;
    // The retry waits an hour: close() resolving at all shows it does not wait for it.
    const a = makeAlerter([rule("replica-down", receiver.url)], {
      retry: { attempts: 5, initialDelayMs: HOUR, maxDelayMs: HOUR },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await receiver.received(1);
    await a.close();
    expect(data(recorded[1]!)).toMatchObject({
      event: "delivery-failed",
      attempts: 1,
      error: "alerter closed",
    });
    await expect(a.evaluate(snapshot(2000, ["cache"]))).rejects.toThrow("Alerter is closed");
  });
});

describe("Alerter: secrets in the webhook", () => {
  it("delivers to the full URL but never logs or records its path, query or credentials", async () => {
    receiver.script.push(200);
    receiver.fallback = 500;
    const secret = `${receiver.url.replace("http://", "http://bot:pa55word@")}/services/T0K3N?token=qu3ry`;
    const a = makeAlerter([rule("replica-down", secret), rule("repair-failures > 0", secret)]);
    await a.evaluate(snapshot(1000, ["cache"], 1));
    await a.flush();
    expect(receiver.requests).toHaveLength(4);
    expect(receiver.requests.map((r) => r.path)).toEqual(Array(4).fill("/services/T0K3N?token=qu3ry"));
    expect(receiver.requests[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from("bot:pa55word").toString("base64")}`,
    );
    const failed = recorded.filter((e) => data(e).event === "delivery-failed");
    expect(failed).toHaveLength(1);
    expect(data(failed[0]!).webhook).toBe(`${receiver.url}/***`);
    const everything = JSON.stringify(recorded) + logs.join("\n");
    for (const s of ["T0K3N", "qu3ry", "pa55word", "bot"]) expect(everything).not.toContain(s);
  });

  it("scrubs the URL out of a fetch error", async () => {
    const secret = "https://hooks.example.com/services/T0K3N";
    const a = makeAlerter([rule("replica-down", secret)], {
      retry: { attempts: 1 },
      fetch: async (input) => {
        throw new TypeError(`cannot reach ${String(input)} (path /services/T0K3N)`);
      },
    });
    await a.evaluate(snapshot(1000, ["cache"]));
    await a.flush();
    expect(data(recorded[1]!).error).toBe("cannot reach https://hooks.example.com/*** (path /***)");
    expect(JSON.stringify(recorded) + logs.join("\n")).not.toContain("T0K3N");
  });

  it.each<[string, string]>([
    ["https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/***"],
    ["http://127.0.0.1:9000", "http://127.0.0.1:9000"],
    ["http://127.0.0.1:9000/", "http://127.0.0.1:9000"],
    ["https://h.example.com?token=abc", "https://h.example.com/***"],
    ["https://u:p@h.example.com/", "https://h.example.com/***"],
    ["not a url", "***"],
  ])("redactWebhook(%j) = %j", (url, expected) => {
    expect(redactWebhook(url)).toBe(expected);
  });
});
