import { CommandMessage, Message, RpcCommandMessage } from "@postage/core";
import { describe, expect, it } from "vitest";
import { messageHandler, rpcHandler } from "../handlers/HandlerDefinition.js";
import { HandlerRegistry } from "./HandlerRegistry.js";

describe("HandlerRegistry", () => {
  it("finds the handlers of a message's category, type and name only, in the order added", () => {
    const registry = new HandlerRegistry();
    const first = messageHandler("command", "echo", () => undefined);
    const second = messageHandler("command", "echo", () => undefined);
    const rpc = rpcHandler("command", "echo", () => undefined);
    const status = messageHandler("status", "echo", () => undefined);
    for (const handler of [first, rpc, status, second]) registry.add(handler);
    expect(registry.for(new CommandMessage("echo"))).toEqual([first, second]);
    expect(registry.for(new RpcCommandMessage("echo"))).toEqual([rpc]);
    expect(registry.for(new Message({ type: "status", name: "echo" }))).toEqual([status]);
    expect(registry.for(new Message({ type: "status", name: "echo", category: "rpc" }))).toBeUndefined();
    expect(registry.for(new CommandMessage("other"))).toBeUndefined();
    // Names that a joined key could confuse stay apart.
    registry.add(messageHandler("command\u0000x", "y", () => undefined));
    expect(registry.for(new Message({ type: "command", name: "x\u0000y" }))).toBeUndefined();
  });
});
