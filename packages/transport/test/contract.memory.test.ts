import { connect } from "@postage/transport";
import { defineContractSuite } from "./contract.js";
import { randomName } from "./helpers.js";

// One in-memory broker for this file; every test still uses random exchange and queue names.
const url = `memory://${randomName("contract")}`;

defineContractSuite("memory", (options) => connect({ url, ...options }));
