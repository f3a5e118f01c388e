/**
 * A store URL that cannot mean what it says is refused on load, naming the URL's config path: port 0 (which
 * mysql2 and others take for their default port, so the real MariaDB on 3306 answered a URL naming port 0),
 * and a MariaDB/MySQL query parameter the connector does not read (`?sslmode=require` connected without TLS)
 * or cannot read (`?ssl=1`, `?connectTimeout=abc`).
 */
import { describe, it } from "vitest";
import { MYSQL, POSTGRES } from "../support/services.js";
import { expectOneLineError, makeItemsReplicas, runConcord, tempDir, writeConfig } from "./helpers.js";

function withUrl(url: string, state = "sqlite:state.db"): string {
  return `state: ${state}
datasets:
  items:
    key: id
    replicas:
      a: { url: "${url}", table: items }
      b: { url: "sqlite:b.db", table: items }
`;
}

describe.concurrent("store URLs", () => {
  it("port 0 and parameters MariaDB/MySQL does not take are refused naming the URL", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 3 });
    const mysql = new URL(MYSQL.url);
    const pg = new URL(POSTGRES.url);
    const cases: [string, string, string][] = [
      [
        withUrl(`mysql://${mysql.username}@${mysql.hostname}:0/input2_x`),
        "datasets.items.replicas.a.url",
        "port 0: expected a port from 1 to 65535 (or none, for the default)",
      ],
      [
        withUrl(`mysql://${mysql.username}@${mysql.host}/input2_x?sslmode=require`),
        "datasets.items.replicas.a.url",
        "?sslmode: not a parameter a MariaDB/MySQL URL takes (connectTimeout, queryTimeout, socket, ssl)",
      ],
      [
        withUrl(`mysql://${mysql.username}@${mysql.host}/input2_x?ssl=1`),
        "datasets.items.replicas.a.url",
        "?ssl=1: expected ssl=true (TLS, the server's certificate verified) or ssl=false",
      ],
      [
        withUrl(`mysql://${mysql.username}@${mysql.host}/input2_x?connectTimeout=abc`),
        "datasets.items.replicas.a.url",
        "?connectTimeout=abc: expected a positive whole number of milliseconds",
      ],
      [
        withUrl("sqlite:a.db", `postgres://${pg.username}@${pg.hostname}:0/input2_x`),
        "state",
        "port 0: expected a port from 1 to 65535 (or none, for the default)",
      ],
    ];
    const runs = await Promise.all(
      cases.map(([text], i) =>
        runConcord(["scan", "-c", writeConfig(dir, text, `c${i}.yaml`)], { cwd: dir }),
      ),
    );
    cases.forEach(([, where, what], i) => {
      expect(expectOneLineError(runs[i]!, expect)).toBe(`concord: ${where}: ${what}`);
    });
  });
});
