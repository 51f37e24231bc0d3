import type { Connection } from "rabbitmq-client";
import type { RabbitContext } from "./RabbitContext.js";

/** One connection of a {@link ConnectionPool} and how many long-lived channels it carries. */
interface Slot {
  readonly context: RabbitContext;
  holders: number;
}

/** A place for one long-lived channel: the context to build it on, and the release to call once it closed. */
export interface Placement {
  readonly context: RabbitContext;
  /** Frees the place. Idempotent. */
  release(): void;
}

/**
 * Spreads long-lived channels (consumers, publishers, reply channels) over as many connections
 * as needed, so that one process can hold more of them than a connection allows (RabbitMQ's
 * `channel_max`, 2,047 by default: 1,000 GenericApplications consume 3,000 queues).
 *
 * The first connection is the driver's own; further ones are opened when every open connection
 * already carries `perConnection` channels, with the same settings, and are never closed before
 * the driver closes (a connection emptied by closing consumers takes the next ones). Each
 * context keeps its own connection for run-time declarations (`withChannel`), because an
 * exclusive queue can only be bound from the connection that declared it; the driver's own
 * queue operations try each connection for the same reason.
 * @internal
 */
export class ConnectionPool {
  private readonly slots: Slot[];

  constructor(
    primary: RabbitContext,
    private readonly perConnection: number,
    private readonly open: () => RabbitContext,
  ) {
    this.slots = [{ context: primary, holders: 0 }];
  }

  /** Every connection, the driver's own first. */
  get connections(): Connection[] {
    return this.slots.map((slot) => slot.context.connection);
  }

  /** Takes a place on the first connection with room, opening a new connection when all are full. */
  place(): Placement {
    let slot = this.slots.find((s) => s.holders < this.perConnection);
    if (slot === undefined) {
      slot = { context: this.open(), holders: 0 };
      this.slots.push(slot);
    }
    const taken = slot;
    taken.holders += 1;
    let released = false;
    return {
      context: taken.context,
      release: () => {
        if (released) return;
        released = true;
        taken.holders -= 1;
      },
    };
  }
}
