/** The fault proxy itself, against an echo server: it forwards, stalls and heals, delays, cuts at a byte, refuses. */
import { createServer, type Server, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";

let echo: Server;
let echoPort: number;

beforeAll(async () => {
  echo = createServer((s) => {
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => echo.close(r));
});

/** A client of the proxy that collects what comes back and how the connection ended. */
async function client(proxy: FaultProxy) {
  const socket = new Socket();
  let received = "";
  let ended: string | undefined;
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => {
    received += d;
  });
  socket.on("error", (err: NodeJS.ErrnoException) => {
    ended = err.code ?? err.message;
  });
  socket.on("close", () => {
    ended ??= "closed";
  });
  await new Promise<void>((r) => {
    socket.once("close", () => r());
    socket.connect(proxy.port, "127.0.0.1", r);
  });
  return {
    socket,
    received: () => received,
    ended: () => ended,
    send: (text: string) => socket.write(text),
  };
}

/** Polls `condition` until it holds; the deadline is generous, as a loaded machine runs the proxy's timers late. */
async function until(condition: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("fault proxy", () => {
  it("forwards, stalls (holding the data, sockets open), and heals in order", async () => {
    const proxy = await startFaultProxy(`127.0.0.1:${echoPort}`);
    try {
      const c = await client(proxy);
      c.send("hello ");
      await until(() => c.received() === "hello ");
      proxy.stall();
      c.send("world");
      await new Promise((r) => setTimeout(r, 100));
      expect(c.received()).toBe("hello ");
      expect(c.ended()).toBeUndefined();
      // A new connection while stalled is accepted and stalled too.
      const d = await client(proxy);
      d.send("second");
      await new Promise((r) => setTimeout(r, 50));
      expect(d.received()).toBe("");
      proxy.forward();
      await until(() => c.received() === "hello world" && d.received() === "second");
      expect(proxy.bytes.down).toBe("hello world".length + "second".length);
      c.socket.destroy();
      d.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("stalls only the connections open now when asked, forwarding new ones", async () => {
    const proxy = await startFaultProxy(`127.0.0.1:${echoPort}`);
    try {
      const c = await client(proxy);
      proxy.stall({ existing: true });
      c.send("held");
      const d = await client(proxy);
      d.send("fresh");
      await until(() => d.received() === "fresh");
      expect(c.received()).toBe("");
      proxy.forward();
      await until(() => c.received() === "held");
      c.socket.destroy();
      d.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("cuts with a reset at an exact byte count, and fires an armed stall on a matching client chunk", async () => {
    const proxy = await startFaultProxy(`127.0.0.1:${echoPort}`);
    try {
      const c = await client(proxy);
      const cut = proxy.arm({ bytes: 7, direction: "down" }, "cut");
      c.send("0123456789");
      await cut;
      await until(() => c.ended() !== undefined);
      expect(c.received()).toBe("0123456");
      expect(c.ended()).toBe("ECONNRESET");

      const d = await client(proxy);
      const stalled = proxy.arm({ match: /COMMIT/ }, "stall");
      d.send("BEGIN;");
      await until(() => d.received() === "BEGIN;");
      d.send("COMMIT;");
      await stalled;
      expect(proxy.mode).toBe("stall");
      await new Promise((r) => setTimeout(r, 50));
      expect(d.received()).toBe("BEGIN;");
      proxy.forward();
      await until(() => d.received() === "BEGIN;COMMIT;");
      d.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("delays every chunk, and refuses (reset) until healed", async () => {
    const proxy = await startFaultProxy(`127.0.0.1:${echoPort}`);
    try {
      proxy.delay(150);
      const c = await client(proxy);
      const sent = Date.now();
      c.send("slow");
      await until(() => c.received() === "slow");
      // Each way is delayed: there and back.
      expect(Date.now() - sent).toBeGreaterThanOrEqual(280);
      proxy.refuse();
      await until(() => c.ended() !== undefined);
      expect(c.ended()).toBe("ECONNRESET");
      const d = await client(proxy);
      await until(() => d.ended() !== undefined);
      expect(d.ended()).toBe("ECONNRESET");
      proxy.forward();
      const e = await client(proxy);
      e.send("back");
      await until(() => e.received() === "back");
      e.socket.destroy();
    } finally {
      await proxy.close();
    }
  });
});
