import type { AnyActionArgs, ComponentAction, FromArgs } from "./componentActions.js";
import type { ComponentEvent, ReplyValue } from "./ComponentEvent.js";

/**
 * An action that answers the RPC being handled with `make(args)` (or a fixed value). Use it in
 * the transitions of a component's machine; on a fire-and-forget command it does nothing.
 *
 * @example
 * on: { status: { actions: reply(({ context }) => ({ orderId: context.orderId })) } }
 */
export function reply<TArgs extends AnyActionArgs>(
  make: FromArgs<ReplyValue, TArgs>,
): ComponentAction<TArgs> {
  return (args) => {
    const event = args.event as unknown as Partial<ComponentEvent>;
    if (typeof event.reply !== "function") return;
    event.reply(typeof make === "function" ? make(args) : make);
  };
}
