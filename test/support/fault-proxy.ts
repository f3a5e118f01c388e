/**
 * A TCP proxy the tests control, between Concord and a real server: forward, stall (stop forwarding, keep
 * the sockets), delay, cut with RST (now, or at a byte count), refuse. Tests only; it never touches the data.
 */
import { createServer, type Server, Socket } from "node:net";

/** Which way bytes go: `up` from the client to the server, `down` from the server to the client. */
export type Direction = "up" | "down";

/** When an armed fault fires, counted from the moment it is armed, over every connection. */
export type Trigger =
  /** Once this many more bytes went that way: the fault lands exactly at that byte. */
  | { readonly bytes: number; readonly direction: Direction }
  /** On the first client chunk whose text matches (a statement or command being sent). */
  | { readonly match: RegExp };

/**
 * What an armed trigger does: stall everything (new connections too), stall only the connection it fired
 * on, cut (RST) the connection it fired on, or cut all and refuse new ones.
 */
export type FaultAction = "stall" | "stall-connection" | "cut" | "refuse";

/** One client connection and its upstream twin. */
interface Link {
  readonly client: Socket;
  readonly server: Socket;
  /** Data read but not yet forwarded (while stalled), per direction. */
  readonly held: Record<Direction, Buffer[]>;
  /** Stalled on its own (the others forward). */
  stalled: boolean;
  /** The client closed while the link was stalled: the server was not told (a partition carries nothing). */
  clientGone: boolean;
  /** Cut at a byte: nothing more is forwarded while the reset is on its way. */
  cut: boolean;
}

interface Armed {
  readonly trigger: Trigger;
  readonly action: FaultAction;
  /** Bytes still to pass before a byte trigger fires. */
  remaining: number;
  readonly fired: () => void;
}

export interface FaultProxy {
  readonly port: number;
  /** `target` (a store URL) with host and port replaced by the proxy's; user, password, path and query kept. */
  url(target: string): string;
  /** Bytes forwarded so far over all connections, per direction. */
  readonly bytes: Readonly<Record<Direction, number>>;
  /** Connections accepted so far, and open now. */
  readonly accepted: number;
  readonly open: number;
  /** The present mode. */
  readonly mode: "forward" | "stall" | "refuse";
  /** Heals: forwards everything again (data held while stalled goes first), accepts new connections, no delay. */
  forward(): void;
  /**
   * Stops forwarding both ways on every connection, new ones included (with `existing`, only on the
   * connections open now: new ones are forwarded); sockets stay open, data is held.
   */
  stall(options?: { existing?: boolean }): void;
  /** Forwards every chunk `ms` later (0: at once). */
  delay(ms: number): void;
  /** Resets (RST) every open connection now; new ones are forwarded. */
  cut(): void;
  /** Resets every open connection and every new one at once, until `forward`. */
  refuse(): void;
  /** Arms a one-shot fault; resolves when it has fired. */
  arm(trigger: Trigger, action: FaultAction): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (a free port) to `target` ("host:port" or a store URL). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const { host, port: targetPort } = hostPort(target);
  const links = new Set<Link>();
  const bytes: Record<Direction, number> = { up: 0, down: 0 };
  let mode: FaultProxy["mode"] = "forward";
  let delayMs = 0;
  let accepted = 0;
  const armed: Armed[] = [];

  const reset = (link: Link) => {
    links.delete(link);
    link.client.resetAndDestroy();
    link.server.resetAndDestroy();
  };

  /** Forwards `chunk` the way it goes, unless held; applies armed triggers at their exact byte. */
  const pass = (link: Link, way: Direction, chunk: Buffer) => {
    if (!links.has(link) || link.cut) return;
    if (mode === "stall" || link.stalled) {
      link.held[way].push(chunk);
      return;
    }
    for (const a of [...armed]) {
      const t = a.trigger;
      let cutAt: number | undefined;
      if ("match" in t) {
        if (way === "up" && t.match.test(chunk.toString("latin1"))) cutAt = 0;
      } else if (t.direction === way) {
        if (chunk.length >= a.remaining) cutAt = a.remaining;
        else a.remaining -= chunk.length;
      }
      if (cutAt === undefined) continue;
      armed.splice(armed.indexOf(a), 1);
      const before = chunk.subarray(0, cutAt);
      const rest = chunk.subarray(cutAt);
      if (a.action === "cut") {
        // Nothing after the cut point goes anywhere; the reset follows once the bytes before it have left
        // (a reset discards what the kernel still holds).
        link.cut = true;
        if (before.length) send(link, way, before, () => setTimeout(() => reset(link), 20));
        else reset(link);
      } else {
        if (before.length) send(link, way, before);
        if (a.action === "refuse") {
          mode = "refuse";
          for (const l of [...links]) reset(l);
        } else {
          if (a.action === "stall") mode = "stall";
          else link.stalled = true;
          if (rest.length) link.held[way].push(rest);
        }
      }
      a.fired();
      return;
    }
    send(link, way, chunk);
  };

  const send = (link: Link, way: Direction, chunk: Buffer, written?: () => void) => {
    const to = way === "up" ? link.server : link.client;
    const go = () => {
      if (!links.has(link) || to.destroyed) return;
      bytes[way] += chunk.length;
      to.write(chunk, written);
    };
    if (delayMs > 0) setTimeout(go, delayMs);
    else go();
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = new Socket();
    const link: Link = {
      client,
      server: upstream,
      held: { up: [], down: [] },
      stalled: false,
      clientGone: false,
      cut: false,
    };
    links.add(link);
    upstream.setNoDelay(true);
    upstream.connect(targetPort, host);
    const drop = () => {
      if (!links.delete(link)) return;
      client.destroy();
      upstream.destroy();
    };
    const isStalled = () => mode === "stall" || link.stalled;
    // A close on either side closes the other the same way: an orderly end, or a reset.
    client.on("data", (c: Buffer) => pass(link, "up", c));
    upstream.on("data", (c: Buffer) => pass(link, "down", c));
    // While stalled, the client going away is not passed on: the server keeps its session (and its locks)
    // as it would behind a partition, until its own timeouts end it or the proxy heals.
    client.on("end", () => (isStalled() ? undefined : upstream.end()));
    upstream.on("end", () => (isStalled() ? undefined : client.end()));
    client.on("error", () => {
      if (isStalled()) link.clientGone = true;
      else if (links.delete(link)) upstream.resetAndDestroy();
    });
    upstream.on("error", () => {
      if (links.delete(link)) client.resetAndDestroy();
    });
    client.on("close", () => {
      if (isStalled()) link.clientGone = true;
      else drop();
    });
    upstream.on("close", drop);
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    url(target) {
      const u = new URL(target);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    get bytes() {
      return { ...bytes };
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return links.size;
    },
    get mode() {
      return mode;
    },
    forward() {
      mode = "forward";
      delayMs = 0;
      for (const link of [...links]) {
        link.stalled = false;
        for (const way of ["up", "down"] as const) {
          const held = link.held[way].splice(0);
          for (const chunk of held) pass(link, way, chunk);
        }
        // What the client sent before it went away arrives (retransmitted), then its goodbye.
        if (link.clientGone) link.server.end();
      }
    },
    stall(options = {}) {
      if (!options.existing) mode = "stall";
      else for (const link of links) link.stalled = true;
    },
    delay(ms) {
      delayMs = ms;
    },
    cut() {
      for (const link of [...links]) reset(link);
    },
    refuse() {
      mode = "refuse";
      for (const link of [...links]) reset(link);
    },
    arm(trigger, action) {
      return new Promise<void>((fired) => {
        const remaining = "bytes" in trigger ? trigger.bytes : 0;
        armed.push({ trigger, action, remaining, fired });
      });
    },
    async close() {
      for (const link of [...links]) reset(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function hostPort(target: string): { host: string; port: number } {
  if (/^[^:/]+:\d+$/.test(target)) {
    const [host, port] = target.split(":");
    return { host: host!, port: Number(port) };
  }
  const u = new URL(target);
  const defaults: Record<string, number> = {
    "postgres:": 5432,
    "postgresql:": 5432,
    "mysql:": 3306,
    "mariadb:": 3306,
    "redis:": 6379,
  };
  return { host: u.hostname || "127.0.0.1", port: Number(u.port) || defaults[u.protocol] || 0 };
}
