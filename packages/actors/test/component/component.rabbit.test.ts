import { connect } from "@postage/transport";
import { describe } from "vitest";
import { MAIN_URL } from "../reliability/support.js";
import { defineComponentSuite } from "./componentSuite.js";

// POSTAGE_SKIP_RABBIT=1 skips the RabbitMQ suites on machines without a broker.
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("rabbitmq", () => {
  defineComponentSuite("RabbitMQ", () => connect({ url: MAIN_URL, shared: false }));
});
