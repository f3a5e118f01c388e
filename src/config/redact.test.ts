import { describe, expect, it } from "vitest";
import { redactText, redactUrl } from "./redact.js";

describe("redactUrl", () => {
  it.each<[string, string]>([
    ["postgres://u:secret@h/db", "postgres://u:***@h/db"],
    [
      "postgresql://app:s3cr3t@127.0.0.1:5432/app?sslmode=require",
      "postgresql://app:***@127.0.0.1:5432/app?sslmode=require",
    ],
    ["mysql://root:pw@localhost:3306/app", "mysql://root:***@localhost:3306/app"],
    ["redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"],
    ["REDIS://user:pw@h", "REDIS://user:***@h"],
    // An unencoded '@' in the password: the host is after the last '@', and no part of the password shows.
    ["postgres://app:p@ssw0rd@db/app", "postgres://app:***@db/app"],
    ["postgres://app:a:b@db/app", "postgres://app:***@db/app"],
    ["postgres://app:pa/ss@db/app", "postgres://app:***@db/app"],
    // Unencoded '@' with '/', '?' or '#' after it, or a space (`${PGPASSWORD}` interpolated): none of it shows.
    ["postgres://app:p@ss:w/rd?#@db/app", "postgres://app:***@db/app"],
    ["mysql://root:open sesame@db:3306/app", "mysql://root:***@db:3306/app"],
    // A credential in the query, to the next '&' or '#', a space included.
    ["postgres://u@h/db?password=open sesame&ssl=1", "postgres://u@h/db?password=***&ssl=1"],
    ["mysql://root@h/db?sslmode=x&sslpassword=p%40ss#f", "mysql://root@h/db?sslmode=x&sslpassword=***#f"],
    // Nothing to hide.
    ["postgres://u@h/db", "postgres://u@h/db"],
    ["postgres://h:5432/db", "postgres://h:5432/db"],
    ["postgres://127.0.0.1/app", "postgres://127.0.0.1/app"],
    ["sqlite:/var/lib/a.db", "sqlite:/var/lib/a.db"],
    ["memory:items", "memory:items"],
  ])("%s → %s", (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe("redactText", () => {
  it.each<[string, string]>([
    [
      "cannot connect to postgres://u:secret@h/db: refused",
      "cannot connect to postgres://u:***@h/db: refused",
    ],
    [
      "copy from mysql://a:x@h1/db to postgres://b:y@h2/db",
      "copy from mysql://a:***@h1/db to postgres://b:***@h2/db",
    ],
    ["postgres://app:p@ssw0rd@db/app is down", "postgres://app:***@db/app is down"],
    ["host=db password=hunter2 user=app", "host=db password=*** user=app"],
    ["?user=app&password=hunter2&ssl=1", "?user=app&password=***&ssl=1"],
    ["PASSWORD=x pwd=y passwd=z token=abc", "PASSWORD=*** pwd=*** passwd=*** token=***"],
    ["GET /api?access_token=abc123", "GET /api?access_token=***"],
    ["no secrets in postgres://h:5432/db here", "no secrets in postgres://h:5432/db here"],
    ["plain message", "plain message"],
  ])("%j → %j", (text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it.each<[string, string]>([
    ["postgres://u:hunter2@h/db", "hunter2"],
    ["failed: postgres://u:p@ss@h/db", "p@ss"],
    ["failed: postgres://u:p@ss:w/rd?#@h/db: refused", "ss:w/rd"],
    ["dsn password=hunter2", "hunter2"],
  ])("%j does not contain the secret %j once redacted", (text, secret) => {
    expect(redactText(text)).not.toContain(secret);
  });
});
