// The order demo on RabbitMQ, isolated for one test file: its own exchange, names and snapshot directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deleteDemoApplications, RABBIT_URL, randomName } from "./processes.js";

/** What {@link isolatedOrderDemo} gives a test file. */
export interface IsolatedOrderDemo {
  /** The demo programs' environment: the broker under test, a fresh exchange and name prefix, a fresh snapshot directory. */
  readonly env: {
    POSTAGE_URL: string;
    POSTAGE_DEMO_APP_EXCHANGE: string;
    POSTAGE_DEMO_APP_PREFIX: string;
    POSTAGE_DEMO_STATE_DIR: string;
  };
  /** The order component's name (its address) with that prefix. */
  readonly order: string;
  /** Deletes what the demo left on RabbitMQ (queues, exchange) and its snapshot directory; anything already gone is skipped. */
  remove(): Promise<void>;
}

/**
 * Names and a snapshot directory of their own for running `order receive`/`order send`, so test
 * files running in parallel never share an order. `label` marks the names (e.g. "order-demo").
 */
export function isolatedOrderDemo(label: string): IsolatedOrderDemo {
  const stateDirectory = mkdtempSync(join(tmpdir(), `postage-${label}-`));
  const env = {
    POSTAGE_URL: RABBIT_URL,
    POSTAGE_DEMO_APP_EXCHANGE: randomName(`${label}-apps`),
    POSTAGE_DEMO_APP_PREFIX: `${randomName(label)}-`,
    POSTAGE_DEMO_STATE_DIR: stateDirectory,
  };
  const order = `${env.POSTAGE_DEMO_APP_PREFIX}order`;
  return {
    env,
    order,
    async remove() {
      await deleteDemoApplications(env.POSTAGE_DEMO_APP_EXCHANGE, [order]);
      rmSync(stateDirectory, { recursive: true, force: true });
    },
  };
}
