import { connect } from "@postage/transport";
import { defineComponentSuite } from "./componentSuite.js";

defineComponentSuite("the memory broker", () => connect({ url: `memory://component-${Math.random().toString(36).slice(2)}` }));
