import { Message } from "./Message.js";

/**
 * A command: asks another component to do something. `content.parameters` carries its
 * arguments (any JSON value; `{}` when none), as Python's `MessageCommand`.
 *
 * @example
 * new CommandMessage("sum", { a: 5, b: 6 });
 */
export class CommandMessage extends Message {
  constructor(name: string, parameters: unknown = {}) {
    super({ type: "command", name, content: { parameters } });
  }

  /** The command's parameters. */
  get parameters(): unknown {
    return this.content.parameters;
  }
}

/** The RPC form of a command (category `rpc`): the sender waits for a result, as Python's `RpcCommand`. */
export class RpcCommandMessage extends CommandMessage {
  constructor(name: string, parameters: unknown = {}) {
    super(name, parameters);
    this.category = "rpc";
  }
}
