import { connect } from "@postage/transport";
import { describe } from "vitest";
import { defineContractSuite } from "./contract.js";

/** The RabbitMQ under test (127.0.0.1:5672, guest/guest unless POSTAGE_TEST_RABBIT_URL says otherwise). */
export const RABBIT_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";

// POSTAGE_SKIP_RABBIT=1 skips the RabbitMQ suites on machines without a broker.
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("rabbitmq", () => {
  defineContractSuite("rabbitmq", (options) => connect({ url: RABBIT_URL, heartbeat: 0, ...options }));
});
