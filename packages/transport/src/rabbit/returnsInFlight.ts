import type { Channel } from "rabbitmq-client";

/** rabbitmq-client's method id of `basic.return` (class 60, method 50). */
const BASIC_RETURN = (60 << 16) | 50;

/** Returns whose frames arrived but which rabbitmq-client has not emitted yet (it emits them from a setImmediate). */
let inFlight = 0;
/** False once a channel could not be patched: then nobody may take the fast path. */
let patched = true;

interface ChannelInternals {
  _onMethod?: (this: Channel, frame: { methodId?: number }) => void;
}

/**
 * Counts `basic.return`s between their arrival and the library's `basic.return` event, so a
 * confirmed mandatory publish can tell at once that no return is on its way. RabbitMQ sends a
 * message's return before its ack; once the ack has resolved the publish, either the return was
 * counted here or it was already emitted. Without this, every confirmed publish would have to wait
 * for the library's pending immediates before it could be sure.
 */
export function countReturns(channel: Channel): void {
  const internals = channel as unknown as ChannelInternals;
  const onMethod = internals._onMethod;
  if (typeof onMethod !== "function") {
    returnsUncounted();
    return;
  }
  internals._onMethod = function countingOnMethod(this: Channel, frame): void {
    if (frame.methodId === BASIC_RETURN) inFlight += 1;
    onMethod.call(this, frame);
  };
  const emit = channel.emit.bind(channel);
  channel.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === "basic.return") inFlight -= 1;
    return emit(event, ...args);
  }) as Channel["emit"];
}

/**
 * Whether a return may still be on its way to some listener. `false` is certain only if every
 * channel was patched by {@link countReturns} (else the caller must wait as before).
 */
export function returnsMayBeInFlight(): boolean {
  return inFlight > 0 || !patched;
}

/** Marks that a channel could not be patched (a rabbitmq-client without `_onMethod`): callers then always wait. */
export function returnsUncounted(): void {
  patched = false;
}
