import type { CommandMessage, ResultMessage } from "@postage/core";

/**
 * What a component's reply may be: a result message (`SuccessResult`, `ErrorResult`,
 * `ExceptionResult`), or any other JSON value, sent as `SuccessResult(value)`.
 */
export type ReplyValue = ResultMessage | string | number | boolean | null | readonly unknown[] | object;

/**
 * The event a component's behaviour machine receives for each incoming command: its `type` is
 * the message's name (`"pay"` for a command `pay`), `params` its parameters, `message` the whole
 * decoded message. A command sent as an RPC (category `rpc`) also carries a working `reply`:
 * the caller waits for it. A machine that takes the event without replying answers for itself
 * once the transition is made (`SuccessResult({ state, context })`).
 *
 * Name the events of your machine with it:
 *
 * @example
 * type OrderEvent =
 *   | ComponentEvent<"place", { orderId: string; items: OrderItem[] }>
 *   | ComponentEvent<"pay", { amount: number }>
 *   | ComponentEvent<"status">;
 */
export interface ComponentEvent<Name extends string = string, Params = unknown> {
  readonly type: Name;
  /**
   * The message's parameters (`content.parameters`) as the sender gave them; `Params` is what
   * you expect, not something Postage checked: validate what matters in a guard.
   */
  readonly params: Params;
  /** The decoded message (its fingerprint says who sent it). */
  readonly message: CommandMessage;
  /** Whether the sender waits for a reply (an RPC). */
  readonly rpc: boolean;
  /**
   * Answers the RPC. The first answer is sent; later ones, and answers to a fire-and-forget
   * command, are ignored (returns `false`).
   */
  reply(result: ReplyValue): boolean;
}
