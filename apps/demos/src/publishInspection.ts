import type { InspectionEvent, Scheduler } from "@postage/actors";
import { inspectExchange } from "@postage/inspector";
import { type Broker, createProducer } from "@postage/transport";

/**
 * Publishes the scheduler's inspection events (announcements with heartbeats, transitions,
 * messages) to the `postage.inspect` topic exchange with key `<kind>.<actorId>`, so that
 * `postage inspect` shows the demo receivers live. Best effort: no confirms, not mandatory, not
 * persistent (a live view, not a history); the first failure is reported, later ones only counted.
 * @returns a function that stops publishing and closes the producer.
 */
export function publishInspection(scheduler: Scheduler, broker: Broker, onError: (error: unknown) => void): () => Promise<void> {
  const exchange = inspectExchange();
  const producer = createProducer(broker, { confirm: false, mandatory: false, persistent: false });
  const encoder = new TextEncoder();
  let failures = 0;
  const unsubscribe = scheduler.inspect((event: InspectionEvent) => {
    // Deliberately not awaited: an actor must never wait for its observers. Failures are caught here.
    void producer.forward(encoder.encode(JSON.stringify(event)), { eks: [[exchange, `${event.kind}.${event.actorId}`]] }).catch((error: unknown) => {
      failures += 1;
      if (failures === 1) onError(error);
    });
  });
  return async () => {
    unsubscribe();
    await producer.close();
  };
}
