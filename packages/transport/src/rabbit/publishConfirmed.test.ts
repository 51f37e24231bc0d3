import type { Envelope, ReturnedMessage } from "rabbitmq-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TransportError, toTransportError } from "../errors.js";
import { publishConfirmed, type PublishTarget } from "./publishConfirmed.js";
import type { ReturnTracker } from "./ReturnTracker.js";

const returned = { replyCode: 312, replyText: "NO_ROUTE", exchange: "ex", routingKey: "key", body: Buffer.from("x") } as unknown as ReturnedMessage;

/**
 * A target that was disconnected when the publish started (so the publish counts as made across an
 * outage) and whose broker returns the message `returns` times before a receiver is bound again.
 */
function target(returns: number, maxAttempts = 10): { target: PublishTarget; sends: () => number } {
  let sends = 0;
  let connected = false;
  const tracker = {
    mayHaveReturns: () => true,
    wasReturned: async () => (sends <= returns ? returned : undefined),
  } as unknown as ReturnTracker;
  return {
    sends: () => sends,
    target: {
      send: async () => {
        sends += 1;
        connected = true;
      },
      confirm: true,
      returns: tracker,
      toError: (err, context) => toTransportError(err, context),
      maxAttempts,
      timeoutMs: 30_000,
      isClosed: () => false,
      isConnected: () => connected,
    },
  };
}

const envelope: Envelope = { exchange: "ex", routingKey: "key", mandatory: true };

describe("publishConfirmed after an outage", () => {
  // The pauses between publishes are real timers in the code: faked here, so the test takes no 13 s.
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps publishing a returned message while the receivers come back, beyond maxAttempts returns (they reconnect with a backoff of seconds)", async () => {
    // 14 returns at 250 ms apart: 3.5 s, longer than 10 attempts allow, shorter than a receiver's reconnect backoff can take.
    const { target: t, sends } = target(14);
    const published = publishConfirmed(t, envelope, Buffer.from("x"));
    await vi.runAllTimersAsync();
    await published;
    expect(sends()).toBe(15);
  });

  it("still fails with UNROUTABLE when nothing is bound for long, after the return window and before the deadline", async () => {
    const { target: t } = target(Number.POSITIVE_INFINITY);
    const started = Date.now();
    const outcome = publishConfirmed(t, envelope, Buffer.from("x")).then(
      () => undefined,
      (e: unknown) => e,
    );
    await vi.runAllTimersAsync();
    const error = await outcome;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe("UNROUTABLE");
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(10_000);
    expect(elapsed).toBeLessThan(30_000);
  });
});
