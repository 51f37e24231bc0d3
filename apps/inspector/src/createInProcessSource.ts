import type { InspectionListener, InspectionSource } from "./InspectionSource.js";

/** Registers a listener with something that emits inspection events; returns its unregister function. */
export type RegisterInspectionListener = (listener: InspectionListener) => () => void;

/**
 * An {@link InspectionSource} fed by something in this process, typically an actors Scheduler.
 * Every `subscribe` registers once with `register`; `close` unregisters all of them.
 *
 * A listener that throws does not reach the emitter: the error is handed to `onError` (by default
 * written to stderr once per distinct message), so a bug in a viewer cannot break an actor.
 *
 * @example
 * ```ts
 * const source = createInProcessSource((listener) => scheduler.inspect(listener));
 * const inspector = await createInspectorServer({ source });
 * ```
 */
export function createInProcessSource(
  register: RegisterInspectionListener,
  options: { description?: string; onError?: (error: unknown) => void } = {},
): InspectionSource {
  const active = new Set<() => void>();
  const seen = new Set<string>();
  const onError =
    options.onError ??
    ((error: unknown) => {
      const text = error instanceof Error ? error.message : String(error);
      if (seen.has(text)) return;
      seen.add(text);
      process.stderr.write(`postage inspector: an inspection listener failed: ${text}\n`);
    });
  let closed = false;
  return {
    description: options.description ?? "in-process",
    subscribe(listener) {
      if (closed) return () => {};
      const unregister = register((event) => {
        try {
          listener(event);
        } catch (error) {
          onError(error);
        }
      });
      let done = false;
      const unsubscribe = (): void => {
        if (done) return;
        done = true;
        active.delete(unsubscribe);
        unregister();
      };
      active.add(unsubscribe);
      return unsubscribe;
    },
    close() {
      closed = true;
      for (const unsubscribe of [...active]) unsubscribe();
      return Promise.resolve();
    },
  };
}
