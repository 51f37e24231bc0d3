import { connect } from "@postage/transport";
import { afterAll, describe } from "vitest";
import { defineLifecycleSuite, type Figure } from "./lifecycle.js";
import { MAIN_URL, markdownTable, randomName } from "./reliability/support.js";

const figures: Figure[] = [];

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("RabbitMQ", () => {
  defineLifecycleSuite(
    "RabbitMQ",
    {
      broker: () => connect({ url: MAIN_URL, shared: false, heartbeat: 0 }),
      name: (prefix) => randomName(`lifecycle.${prefix}`),
      cleanup: async (broker, queues, exchanges) => {
        for (const queue of queues) await broker.driver.deleteQueue(queue).catch(() => undefined);
        for (const exchange of exchanges) await broker.driver.deleteExchange(exchange).catch(() => undefined);
      },
    },
    figures,
  );
  afterAll(() => {
    console.log(`\nLifecycle figures (RabbitMQ)\n${markdownTable(["defect", "what", "value"], figures.map((f) => [f.defect, f.what, f.value]))}\n`);
  });
});
