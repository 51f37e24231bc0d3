import type { ActionArgs, EventObject, MachineContext, ParameterizedObject } from "xstate";
import type { ComponentAction } from "./componentActions.js";
import type { ComponentEvent, ReplyValue } from "./ComponentEvent.js";

/**
 * An action that answers the RPC being handled with `make(args)` (or a fixed value). Use it in
 * the transitions of a component's machine; on a fire-and-forget command it does nothing.
 *
 * @example
 * on: { status: { actions: reply(({ context }) => ({ orderId: context.orderId })) } }
 */
export function reply<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TParams extends ParameterizedObject["params"] | undefined,
  TEvent extends EventObject,
>(
  make: ReplyValue | ((args: ActionArgs<NoInfer<TContext>, NoInfer<TExpressionEvent>, NoInfer<TEvent>>) => ReplyValue),
): ComponentAction<TContext, TExpressionEvent, TParams, TEvent> {
  return (args) => {
    const event = args.event as unknown as Partial<ComponentEvent>;
    if (typeof event.reply !== "function") return;
    event.reply(typeof make === "function" ? make(args) : make);
  };
}
