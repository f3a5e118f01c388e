import { createServer, type Server, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundSilence, boundTime, isStoreTimeout, StoreTimeoutError } from "./bound-silence.js";

/** A server that sends `tick` every `every` ms on each connection, `times` times. */
let server: Server;
let port: number;
const TICK_EVERY = 40;

beforeAll(async () => {
  server = createServer((s) => {
    s.on("error", () => undefined);
    let n = 0;
    const t = setInterval(() => {
      if (++n > 10) clearInterval(t);
      else s.write("tick");
    }, TICK_EVERY);
    s.on("close", () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

async function connected(): Promise<Socket> {
  const s = new Socket();
  s.on("error", () => undefined);
  s.on("data", () => undefined);
  await new Promise<void>((r) => s.connect(port, "127.0.0.1", r));
  return s;
}

const never = () => new Promise<never>(() => undefined);
const later = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

describe("boundSilence", () => {
  it("lets a call run as long as its socket keeps receiving, however long in all", async () => {
    const s = await connected();
    try {
      // 10 ticks 40 ms apart: 400 ms of work under a 150 ms silence bound.
      const out = await boundSilence(later(350, "done"), { ms: 150, socket: () => s, onTimeout: () => {} });
      expect(out).toBe("done");
    } finally {
      s.destroy();
    }
  });

  it("fails a call whose socket stays silent, and drops the connection", async () => {
    let dropped = false;
    const started = performance.now();
    const err = await boundSilence(never(), {
      ms: 100,
      socket: () => undefined,
      onTimeout: () => {
        dropped = true;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreTimeoutError);
    expect(isStoreTimeout(err)).toBe(true);
    expect((err as StoreTimeoutError).message).toBe(
      "timed out: the server sent nothing for 100ms (timeouts.query); the connection was dropped",
    );
    expect(dropped).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });

  it("waits on while the server says it is still working, and gives up once it says not", async () => {
    let asked = 0;
    const err = await boundSilence(never(), {
      ms: 50,
      socket: () => undefined,
      stillWorking: async () => ++asked < 3,
      onTimeout: () => {},
    }).catch((e: unknown) => e);
    expect(isStoreTimeout(err)).toBe(true);
    expect(asked).toBe(3);
    // A check that fails counts as "not working".
    const failed = await boundSilence(never(), {
      ms: 30,
      socket: () => undefined,
      stillWorking: () => Promise.reject(new Error("unreachable")),
      onTimeout: () => {},
    }).catch((e: unknown) => e);
    expect(isStoreTimeout(failed)).toBe(true);
  });

  it("passes results and errors through, and does nothing with a bound of 0", async () => {
    const opts = { ms: 1000, socket: () => undefined, onTimeout: () => {} };
    expect(await boundSilence(Promise.resolve(7), opts)).toBe(7);
    await expect(boundSilence(Promise.reject(new Error("boom")), opts)).rejects.toThrow("boom");
    const work = later(30, "slow");
    expect(await boundSilence(work, { ...opts, ms: 0 })).toBe("slow");
  });
});

describe("boundTime", () => {
  it("fails work that takes longer than the bound in all, naming the phase", async () => {
    let released = false;
    const err = await boundTime(never(), 60, "connect", () => {
      released = true;
    }).catch((e: unknown) => e);
    expect((err as StoreTimeoutError).phase).toBe("connect");
    expect((err as Error).message).toBe("timed out: no connection within 60ms (timeouts.connect)");
    expect(released).toBe(true);
    expect(await boundTime(later(10, "ok"), 500, "connect", () => {})).toBe("ok");
  });
});
