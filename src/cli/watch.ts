/** `concord watch`: checks the keys change feeds report, seconds after the write, until stopped; `--drop` removes the feeds. */

import { redactText } from "../config/redact.js";
import { openChangeFeed } from "../connectors/open-change-feed.js";
import { feedOptions, type WatchCheck, watchDataset } from "../engine/watch-dataset.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo, writeWarning } from "./io.js";
import { type DataCommandOptions, newRunId, openSession } from "./session.js";

export interface WatchOptions extends Pick<DataCommandOptions, "config" | "dataset"> {
  /** Remove every watched replica's feed (slot and publication, triggers) and its stored position; exit. */
  readonly drop?: boolean | undefined;
}

/** One line for a check: what changed, what was found and what was repaired. */
export function describeCheck(dataset: string, c: WatchCheck): string {
  const t = c.result.totals;
  const found = Object.values(t.counts).reduce((a, n) => a + n, 0);
  const repairs = Object.entries(t.repairs)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(", ");
  const what = c.gap
    ? `whole pass (${c.gap})`
    : `${c.keys} key${c.keys === 1 ? "" : "s"} changed on ${c.replica}`;
  return `${dataset}: ${what} checked in ${Math.round(c.durationMs)} ms: ${found} divergent${repairs ? `; repairs ${repairs}` : ""}${t.remaining ? `; ${t.remaining} remain` : ""} (run ${c.result.runId})`;
}

/**
 * Watches every dataset with `watch:` (or those named by -d, which must have it) until SIGINT/SIGTERM or
 * `stop` aborts: prints one line per check on stdout and one per feed failure on stderr. Resolves 0 when
 * stopped; throws (exit 2) when a feed cannot start (a server setting, a grant), naming it.
 */
export async function runWatch(
  options: WatchOptions,
  io: CliIo = processIo(),
  stop?: AbortSignal,
): Promise<number> {
  const session = await openSession(options, { readonly: false }, io);
  try {
    const datasets = session.datasets.filter((ds) => ds.watch);
    if (options.dataset?.length) {
      const bare = session.datasets.find((ds) => !ds.watch);
      if (bare)
        throw new UsageError(
          `-d ${bare.name}: dataset "${bare.name}" has no watch: in ${session.config.path}`,
        );
    }
    if (!datasets.length)
      throw new UsageError(`no dataset in ${session.config.path} has watch: { replicas: [...] }`);

    if (options.drop) {
      for (const ds of datasets)
        for (const replica of ds.watch!.replicas) {
          const r = ds.replicas.find((x) => x.name === replica)!;
          const feed = await openChangeFeed(r, feedOptions(ds, replica));
          await feed.drop();
          await session.state.deleteFeedPosition(ds.name, replica);
          await session.state.deleteChangeLog(ds.name, replica);
          io.stdout.write(`${ds.name}.${replica}: change feed dropped\n`);
        }
      // Without its feeds, the dataset's dirty marks vouch for nothing.
      for (const ds of datasets) await session.state.deleteSegmentSummary(ds.name);
      return EXIT.ok;
    }

    const controller = new AbortController();
    const signal = stop ? AbortSignal.any([stop, controller.signal]) : controller.signal;
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      await Promise.all(
        datasets.map(async (ds) =>
          watchDataset(
            ds,
            await session.replicas(ds),
            ds.watch!.replicas.map((replica) => ({
              replica,
              open: () =>
                openChangeFeed(ds.replicas.find((x) => x.name === replica)!, feedOptions(ds, replica)),
            })),
            { state: session.state, now: Date.now },
            {
              signal,
              newRunId: () => newRunId(),
              observer: {
                onStarted: ({ replica, from }) => {
                  io.stderr.write(
                    `concord: ${ds.name}.${replica}: watching ${from === undefined ? "from now" : `from ${from}`}\n`,
                  );
                },
                onChecked: (c) => {
                  for (const w of c.result.warnings) writeWarning(io.stderr, w);
                  io.stdout.write(`${describeCheck(ds.name, c)}\n`);
                },
                onRechecked: (r) => {
                  for (const w of r.result?.warnings ?? []) writeWarning(io.stderr, w);
                  const settled = r.settled.length;
                  io.stdout.write(
                    `${ds.name}: re-checked ${r.checked.length} unsettled key${r.checked.length === 1 ? "" : "s"}: ${r.error ? `failed: ${redactText(r.error.message).split("\n")[0]}` : `${settled} settled, ${r.result?.totals.repairs.applied ?? 0} repaired`}; ${r.retrying} held for another check\n`,
                  );
                },
                onRetryOverflow: ({ full, exhausted, bound }) => {
                  io.stderr.write(
                    `concord: ${ds.name}: ${full + exhausted} unsettled keys left to the next scheduled pass (their segments are marked dirty): ${full} over the retry set's bound (watch.retryKeys ${bound}), ${exhausted} past their attempts\n`,
                  );
                },
                onError: ({ replica, error, retryInMs }) => {
                  io.stderr.write(
                    `concord: ${ds.name}.${replica}: ${redactText(error.message).split("\n")[0]}; starting again in ${Math.round(retryInMs / 1000)} s\n`,
                  );
                },
              },
            },
          ).catch((err: unknown) => {
            // One dataset that cannot be watched stops the others: the command fails as a whole.
            controller.abort();
            throw err;
          }),
        ),
      );
    } finally {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
