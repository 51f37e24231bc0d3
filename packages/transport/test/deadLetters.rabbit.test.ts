import { connect } from "@postage/transport";
import { describe } from "vitest";
import { defineDeadLetterSuite } from "./deadLetters.js";
import { RABBIT_URL } from "./helpers.js";

// POSTAGE_SKIP_RABBIT=1 skips the RabbitMQ suites on machines without a broker.
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("rabbitmq", () => {
  defineDeadLetterSuite("rabbitmq", (options) => connect({ url: RABBIT_URL, heartbeat: 0, ...options }));
});
