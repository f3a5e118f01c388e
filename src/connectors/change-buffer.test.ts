import { describe, expect, it } from "vitest";
import { ChangeBuffer } from "./change-buffer.js";

const now = { maxKeys: 100, waitMs: 0 };

describe("ChangeBuffer", () => {
  it("hands out whole transactions in commit order, deduplicated, with the position after the last", async () => {
    const b = new ChangeBuffer(100);
    b.push([["1"], ["2"]], "p1");
    b.push([["2"]], "p2");
    b.push([["3"]], "p3");
    // Stops once it holds maxKeys keys: the next transactions wait for the next take.
    expect(await b.take({ maxKeys: 2, waitMs: 0 })).toEqual({ keys: [["1"], ["2"]], position: "p1" });
    expect(await b.take(now)).toEqual({ keys: [["2"], ["3"]], position: "p3" });
    expect(await b.take(now)).toEqual({ keys: [], position: undefined });
  });

  it("gives each key the image of its newest change: a later change without one takes it away", async () => {
    const b = new ChangeBuffer(100);
    const row = (id: string, name: string) => ({ id, name });
    b.push(
      [["1"], ["2"], ["3"]],
      "p1",
      new Map([
        ['["1"]', row("1", "a")],
        ['["2"]', row("2", "b")],
        ['["3"]', row("3", "c")],
      ]),
    );
    // 1 updated again, 2 deleted, 3 changed in a way the feed could not give whole.
    b.push(
      [["1"], ["2"], ["3"]],
      "p2",
      new Map([
        ['["1"]', row("1", "a2")],
        ['["2"]', null],
      ]),
    );
    b.push([["4"]], "p3");
    const batch = await b.take(now);
    expect(batch.keys).toEqual([["1"], ["2"], ["3"], ["4"]]);
    expect(batch.images).toEqual(
      new Map([
        ['["1"]', row("1", "a2")],
        ['["2"]', null],
      ]),
    );
    // A transaction that changed nothing of ours keeps the images of the one it folds into.
    b.push([["5"]], "p4", new Map([['["5"]', row("5", "e")]]));
    b.push([], "p5");
    expect(await b.take(now)).toEqual({
      keys: [["5"]],
      position: "p5",
      images: new Map([['["5"]', row("5", "e")]]),
    });
  });

  it("never splits a transaction: one bigger than maxKeys comes whole", async () => {
    const b = new ChangeBuffer(100);
    b.push([["1"], ["2"], ["3"]], "p1");
    b.push([["4"]], "p2");
    expect(await b.take({ maxKeys: 1, waitMs: 0 })).toEqual({ keys: [["1"], ["2"], ["3"]], position: "p1" });
  });

  it("folds transactions that changed nothing of ours into the position", async () => {
    const b = new ChangeBuffer(100);
    b.push([], "p0");
    expect(await b.take(now)).toEqual({ keys: [], position: "p0" });
    b.push([["1"]], "p1");
    b.push([], "p2");
    b.push([], "p3");
    expect(await b.take(now)).toEqual({ keys: [["1"]], position: "p3" });
  });

  it("past its limit drops the keys and reports a gap up to the newest position, absorbing what follows", async () => {
    const b = new ChangeBuffer(3);
    b.push([["1"], ["2"]], "p1");
    b.push([["3"], ["4"]], "p2");
    b.push([["5"]], "p3");
    expect(await b.take(now)).toEqual({
      keys: [],
      position: "p3",
      gap: "more than 3 changed keys waited to be checked",
    });
    b.push([["6"]], "p4");
    expect(await b.take(now)).toEqual({ keys: [["6"]], position: "p4" });
  });

  it("an opened gap keeps the position it had and joins reasons", async () => {
    const b = new ChangeBuffer(10);
    b.push([["1"]], "p1");
    b.open("slot released", undefined);
    b.open("truncated", undefined);
    expect(await b.take(now)).toEqual({ keys: [], position: "p1", gap: "slot released; truncated" });
  });

  it("waits for a change, is woken by one, and rethrows a failure", async () => {
    const b = new ChangeBuffer(10);
    const waiting = b.take({ maxKeys: 10, waitMs: 60_000 });
    b.push([["9"]], "p9");
    expect(await waiting).toEqual({ keys: [["9"]], position: "p9" });
    const aborted = new AbortController();
    const stopped = b.take({ maxKeys: 10, waitMs: 60_000, signal: aborted.signal });
    aborted.abort();
    expect(await stopped).toEqual({ keys: [], position: undefined });
    b.fail(new Error("stream ended"));
    await expect(b.take(now)).rejects.toThrow("stream ended");
  });
});
