// Runs one figure of one contender alone, for `node --cpu-prof` (build first):
//   node --cpu-prof --cpu-prof-dir=/tmp/prof apps/bench/tools/profile-postage.mjs rpcSequential 3000 [postage|rabbitmqClient|amqplib]
import { contenders } from "../dist/contenders/index.js";
import { defaultSettings } from "../dist/settings.js";

const [figure = "rpcSequential", n = "3000", key = "postage"] = process.argv.slice(2);
const factory = contenders.find((c) => c.key === key);
if (!factory) throw new Error(`no contender ${key}`);
const contender = await factory.open({ ...defaultSettings, url: process.env.AMQP_URL ?? defaultSettings.url });
try {
  const run = (count) =>
  figure === "throughput" ? contender.throughput(count) : contender.rpcConcurrent(count, figure === "rpcConcurrent" ? 50 : 1);
  await run(Math.ceil(Number(n) / 5));
  const result = await run(Number(n));
  console.log(`${key} ${figure}: ${Math.round(result.count / result.seconds)}/s`);
} finally {
  await contender.close();
}
