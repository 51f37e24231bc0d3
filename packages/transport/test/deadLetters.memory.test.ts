import { connect } from "@postage/transport";
import { defineDeadLetterSuite } from "./deadLetters.js";
import { randomName } from "./helpers.js";

const url = `memory://${randomName("dead-letters")}`;

defineDeadLetterSuite("memory", (options) => connect({ url, ...options }));
