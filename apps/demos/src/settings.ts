import { defineExchange, type ExchangeDefinition } from "@postage/core";
import { genericApplicationExchange } from "@postage/actors";

/** Names the demos use; each can be changed through the environment (tests use random ones). */
export interface DemoNames {
  /** The echo demos' exchange (direct, durable, as the seed's `EchoExchange`). `POSTAGE_DEMO_EXCHANGE`, @default "echo-exchange" */
  echoExchange: ExchangeDefinition;
  /** The echo demos' shared queue. `POSTAGE_DEMO_QUEUE`, @default "echo-queue" */
  echoQueue: string;
  /** The GenericApplication demo's exchange. `POSTAGE_DEMO_APP_EXCHANGE`, @default "generic-application-exchange" */
  appExchange: ExchangeDefinition;
  /** Put before the demo applications' names. `POSTAGE_DEMO_APP_PREFIX`, @default "" */
  appPrefix: string;
}

/** The seed's routing keys. */
export const ECHO_KEY = "echo-rk";
export const ECHO_FANOUT_KEY = "echo-fanout-rk";

/** The broker URL the demos use when `POSTAGE_URL` is not set. */
export const DEFAULT_DEMO_URL = "amqp://guest:guest@localhost:5672";

/** Reads {@link DemoNames} from the environment. */
export function demoNames(env: NodeJS.ProcessEnv = process.env): DemoNames {
  const appExchangeName = env.POSTAGE_DEMO_APP_EXCHANGE;
  return {
    echoExchange: defineExchange({ name: env.POSTAGE_DEMO_EXCHANGE || "echo-exchange", type: "direct", durable: true }),
    echoQueue: env.POSTAGE_DEMO_QUEUE || "echo-queue",
    appExchange: appExchangeName ? defineExchange({ name: appExchangeName, type: "direct", durable: true }) : genericApplicationExchange,
    appPrefix: env.POSTAGE_DEMO_APP_PREFIX ?? "",
  };
}
