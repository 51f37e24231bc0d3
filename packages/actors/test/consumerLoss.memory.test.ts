import { connect } from "@postage/transport";
import { afterAll, describe } from "vitest";
import { defineConsumerLossCase } from "./consumerLoss.js";
import { markdownTable, randomName } from "./reliability/support.js";

const figures: Array<[string, string | number]> = [];

describe("an actor whose consumer is lost (memory broker)", () => {
  afterAll(() => {
    console.log(`\nConsumer loss figures\n${markdownTable(["what", "value"], figures)}\n`);
  });

  const url = `memory://${randomName("consumer-loss")}`;
  defineConsumerLossCase("memory broker", () => connect({ url, shared: false }), figures);
});
