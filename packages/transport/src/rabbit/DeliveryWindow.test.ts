import { describe, expect, it } from "vitest";
import { DeliveryWindow, type ConsumeSwitch } from "./DeliveryWindow.js";

/** A switch whose calls are logged and answered by the test. */
function fakeSwitch(): ConsumeSwitch & { calls: string[]; answer(error?: Error): Promise<void> } {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const call = (name: string) => (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      calls.push(name);
      pending.push({ resolve, reject });
    });
  const calls: string[] = [];
  return {
    calls,
    stop: call("stop"),
    start: call("start"),
    async answer(error) {
      const next = pending.shift();
      if (next === undefined) throw new Error("no call to answer");
      if (error === undefined) next.resolve();
      else next.reject(error);
      // Let the window's continuation run.
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

/** A window of `size` over a fake switch; a failed switch fails the test unless `errors` collects it. */
function windowOf(size: number, errors?: unknown[]): { window: DeliveryWindow; consume: ReturnType<typeof fakeSwitch> } {
  const consume = fakeSwitch();
  const onError = (error: unknown): void => {
    if (errors === undefined) throw error;
    errors.push(error);
  };
  return { window: new DeliveryWindow(size, consume, onError), consume };
}

describe("DeliveryWindow", () => {
  it("cancels when the handler holds a full window and subscribes again at half", async () => {
    const { window, consume } = windowOf(4);
    for (let i = 0; i < 3; i += 1) window.entered();
    expect(consume.calls).toEqual([]);
    window.entered();
    expect(consume.calls).toEqual(["stop"]);
    await consume.answer();
    // Deliveries the broker had sent before the cancel still come in: no second stop.
    window.entered();
    window.left();
    window.left();
    expect(consume.calls).toEqual(["stop"]);
    window.left();
    expect(consume.calls).toEqual(["stop", "start"]);
    await consume.answer();
    window.entered();
    expect(consume.calls).toEqual(["stop", "start"]);
  });

  it("runs one switch at a time and ends where the count is when the switch returns", async () => {
    const { window, consume } = windowOf(2);
    window.entered();
    window.entered();
    expect(consume.calls).toEqual(["stop"]);
    // Settled while the cancel is under way: once it returns, subscribe again at once.
    window.left();
    window.left();
    expect(consume.calls).toEqual(["stop"]);
    await consume.answer();
    expect(consume.calls).toEqual(["stop", "start"]);
    // Full again while subscribing: cancel once that returns.
    window.entered();
    window.entered();
    await consume.answer();
    expect(consume.calls).toEqual(["stop", "start", "stop"]);
  });

  it("after the library subscribed on a new channel, cancels again if the window is still full", async () => {
    const { window, consume } = windowOf(2);
    window.entered();
    window.entered();
    await consume.answer();
    window.resubscribed();
    expect(consume.calls).toEqual(["stop", "stop"]);
    await consume.answer();
    window.left();
    window.left();
    expect(consume.calls).toEqual(["stop", "stop", "start"]);
  });

  it("a switch begun for a channel that is gone does not decide the state", async () => {
    const { window, consume } = windowOf(2);
    window.entered();
    window.entered();
    // The channel dies during the cancel and the library subscribes on a new one.
    window.resubscribed();
    await consume.answer();
    // Still full on the new channel: cancel there too.
    expect(consume.calls).toEqual(["stop", "stop"]);
  });

  it("reports a failed switch, and subscribes no more once closed", async () => {
    const errors: unknown[] = [];
    const { window, consume } = windowOf(2, errors);
    window.entered();
    window.entered();
    await consume.answer(new Error("refused"));
    expect(errors).toHaveLength(1);
    window.close();
    window.left();
    window.left();
    window.entered();
    window.entered();
    expect(consume.calls).toEqual(["stop"]);
  });

  it("cancels a subscription that came back while the consumer began to close", async () => {
    const { window, consume } = windowOf(2);
    window.entered();
    window.entered();
    await consume.answer();
    window.left();
    window.left();
    expect(consume.calls).toEqual(["stop", "start"]);
    window.close();
    await consume.answer();
    expect(consume.calls).toEqual(["stop", "start", "stop"]);
  });
});
