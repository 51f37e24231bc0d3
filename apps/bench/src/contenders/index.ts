import type { ContenderFactory } from "../Contender.js";
import { amqplibContender } from "./amqplib.js";
import { postageContender } from "./postage.js";
import { postageFastContender } from "./postageFast.js";
import { rabbitmqClientContender } from "./rabbitmqClient.js";

/**
 * Every contender, in report column order. rabbitmq-client comes first: ratios are taken against it.
 * To add one (Postage, say), write `contenders/postage.ts` exporting a ContenderFactory with key
 * "postage" and append it here.
 */
export const contenders: readonly ContenderFactory[] = [rabbitmqClientContender, amqplibContender, postageContender, postageFastContender];
