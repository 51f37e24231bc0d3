import type { MessageProcessor, Scheduler } from "@postage/actors";
import type { Broker } from "@postage/transport";
import type { Printer } from "./Printer.js";
import type { DemoNames } from "./settings.js";

/** What every demo runs with: one broker, one scheduler for its receivers, names, and where to print. */
export interface DemoContext {
  broker: Broker;
  /** Receivers are added to it (the standalone programs run it; the tour shares one for every flow). */
  scheduler: Scheduler;
  names: DemoNames;
  out: Printer;
}

/** What {@link whenRunning} looks at: any processor or application. */
export type Startable = Pick<MessageProcessor, "whenState" | "fingerprint">;

/**
 * Resolves once every actor consumes (its queues are declared and bound), so a sender started
 * after this cannot miss them.
 * @throws {Error} when an actor failed to start (a missing exchange, a refused login...) or after `timeout` ms.
 */
export async function whenRunning(actors: readonly Startable[], timeout = 15_000): Promise<void> {
  await Promise.all(
    actors.map((actor) =>
      actor.whenState("running", { timeout }).catch((error: unknown) => {
        throw new Error(`${actor.fingerprint.name ?? "actor"} did not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }),
    ),
  );
}

/** `name[n]` when several receivers share a name in one process (the tour), else the name. */
export function label(name: string, index: number | undefined): string {
  return index === undefined ? name : `${name}[${index}]`;
}
