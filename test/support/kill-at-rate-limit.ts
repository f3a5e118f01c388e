/** A spawned `concord` that SIGKILLs itself as a chosen write batch asks for its rate limit: no timing, no polling. */
import { RATE_LIMIT_TAKE_CHANNEL } from "../../src/execute/rate-limiter.js";

/**
 * The environment (`NODE_OPTIONS`) under which a spawned `concord` kills itself with SIGKILL the moment its
 * `nth` write batch asks the rate limiter for tokens: synchronously, from the limiter's diagnostics channel,
 * which publishes after the batch is claimed in the ledger and before it waits or writes. So that batch is
 * left pending with none of its writes made, and every batch before it written and settled, whatever the
 * machine's load. A kill sent from outside when a poll of the ledger sees a claim lands anywhere in the
 * claim's pending window, after its write too (a batch's write and its settlement are in different stores).
 */
export function killAtRateLimitTake(nth: number): { NODE_OPTIONS: string } {
  const hook =
    `import{subscribe}from"node:diagnostics_channel";let n=0;` +
    `subscribe(${JSON.stringify(RATE_LIMIT_TAKE_CHANNEL)},()=>{if(++n===${nth})process.kill(process.pid,"SIGKILL")});`;
  const inherited = process.env.NODE_OPTIONS ?? "";
  return {
    NODE_OPTIONS: `${inherited} --import data:text/javascript,${encodeURIComponent(hook)}`.trim(),
  };
}
