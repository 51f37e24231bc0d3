import { type ExchangeDefinition, type ResultMessage, StatusMessage } from "@postage/core";
import type { Producer } from "@postage/transport";
import type { ActionArgs, EventObject, MachineContext } from "xstate";
import { ActorError } from "../errors.js";

/** What the action helpers need from the component whose machine runs them. @internal */
export interface ComponentRuntime {
  readonly name: string;
  readonly exchange: ExchangeDefinition;
  readonly producer: Producer;
  /** Sends an event to the behaviour (an RPC reply coming back). */
  deliver(event: EventObject): void;
  /** Keeps a send in flight (awaited before the component stops) and reports its failure. */
  track(work: Promise<unknown>, what: string): void;
}

const runtimes = new WeakMap<object, ComponentRuntime>();

/** Ties a behaviour's actor system to its component. @internal */
export function registerRuntime(system: object, runtime: ComponentRuntime): void {
  runtimes.set(system, runtime);
}

function runtimeOf(args: { system: object }, helper: string): ComponentRuntime {
  const runtime = runtimes.get(args.system);
  if (runtime === undefined) {
    throw new ActorError("NOT_RUNNING", `${helper}() needs the machine to run as a component (defineComponent); provide another action to run it alone`);
  }
  return runtime;
}

/**
 * What XState passes any action, whatever its machine. The helpers' one type parameter `TArgs`
 * extends it and is inferred from where the action is used in a machine, as that machine's
 * `ActionArgs<TContext, TExpressionEvent, TEvent>` (its context, the transition's event, its
 * events). (`self` is left out here: an `ActorRef` of one machine is not one of another's.)
 */
export type AnyActionArgs = Pick<ActionArgs<MachineContext, EventObject, EventObject>, "context" | "event" | "system">;

/**
 * A value, or a function of the action's arguments that computes it. (The arguments' type is
 * inferred from where the action is used, not from this function.)
 */
export type FromArgs<T, TArgs extends AnyActionArgs> = T | ((args: NoInfer<TArgs>) => T);

/**
 * The action the helpers return, as XState calls an action function: with the action's arguments
 * (and parameters, which the helpers do not use), so a machine's config infers `TArgs` for it.
 */
export type ComponentAction<TArgs extends AnyActionArgs> = (args: TArgs, params: unknown) => void;

function resolve<T, TArgs extends AnyActionArgs>(value: FromArgs<T, TArgs>, args: TArgs): T {
  return typeof value === "function" ? (value as (args: TArgs) => T)(args) : value;
}

/** Parameters of a command sent by a helper: any JSON value (`content.parameters`). */
export type CommandParameters = string | number | boolean | null | readonly unknown[] | object;

/** Where a helper sends: a routing key on the component's exchange (an address such as `billing/rr`), or an exchange and key. */
export type Destination = string | { exchange: ExchangeDefinition; key: string };

function eksOf(runtime: ComponentRuntime, to: Destination): Array<[ExchangeDefinition, string]> {
  return typeof to === "string" ? [[runtime.exchange, to]] : [[to.exchange, to.key]];
}

/**
 * An action that sends the command `name` with `params` through the component's producer
 * (stamped with its fingerprint, confirmed by the broker). A failed send is logged once and
 * counted, never thrown into the machine.
 *
 * @example
 * entry: sendCommand("mailer/rr", "send_receipt", ({ context }) => ({ orderId: context.orderId }))
 */
export function sendCommand<TArgs extends AnyActionArgs>(
  to: FromArgs<Destination, TArgs>,
  name: string,
  params?: FromArgs<CommandParameters, TArgs>,
): ComponentAction<TArgs> {
  return (args) => {
    const runtime = runtimeOf(args, "sendCommand");
    const eks = eksOf(runtime, resolve(to, args));
    runtime.track(runtime.producer.to({ eks }).command(name, params === undefined ? {} : resolve(params, args)), `sending ${name}`);
  };
}

/** Options of {@link callRpc}. */
export interface CallRpcOptions {
  /** The type of the event the reply comes back as (an {@link RpcReplyEvent}). */
  onReply: string;
  /** How long to wait for each attempt, in ms. @default the producer's (30 s) */
  timeout?: number;
  /** Attempts after the first when nobody answers. @default the producer's (4) */
  retries?: number;
}

/** Options of {@link broadcastStatus}. */
export interface BroadcastStatusOptions {
  /** Where the status goes. @default `{name}.status` on the component's exchange */
  to?: Destination;
}

/** The event an {@link callRpc} reply comes back as. */
export interface RpcReplyEvent<Type extends string = string> {
  readonly type: Type;
  /** The reply (an `ExceptionResult("TimeoutError")` when nobody answered in time). */
  readonly result: ResultMessage;
  /** `result.ok`: a success. */
  readonly ok: boolean;
  /** `result.value`. */
  readonly value: unknown;
}

/**
 * An action that calls the RPC `name` of another component and, when the reply comes, sends the
 * behaviour `{ type: onReply, result, ok, value }` (declare it in your machine's events as an
 * {@link RpcReplyEvent}). A call nobody answers comes back as an `ExceptionResult("TimeoutError")`.
 *
 * @example
 * entry: callRpc("billing/rr", "charge", ({ context }) => ({ amount: context.total }), { onReply: "charged" }),
 * on: { charged: [{ guard: ({ event }) => event.ok, target: "paid" }, { target: "failed" }] }
 */
export function callRpc<TArgs extends AnyActionArgs>(
  to: FromArgs<Destination, TArgs>,
  name: string,
  params: FromArgs<CommandParameters, TArgs> | undefined,
  options: CallRpcOptions,
): ComponentAction<TArgs> {
  return (args) => {
    const runtime = runtimeOf(args, "callRpc");
    const eks = eksOf(runtime, resolve(to, args));
    const call = runtime.producer
      .to({ eks, ...(options.timeout === undefined ? {} : { timeout: options.timeout }), ...(options.retries === undefined ? {} : { retries: options.retries }) })
      .call(name, params === undefined ? {} : resolve(params, args))
      .then((result) => {
        const event: RpcReplyEvent = { type: options.onReply, result, ok: result.ok, value: result.value };
        runtime.deliver(event);
      });
    runtime.track(call, `calling ${name}`);
  };
}

/**
 * An action that broadcasts a status message (`StatusMessage(status)`, as Python Postage's
 * `MessageStatus`) through the component's producer, to routing key `{name}.status` on its
 * exchange unless told otherwise. Fire-and-forget: nobody listening is not an error.
 *
 * @example
 * entry: broadcastStatus("shipped")
 */
export function broadcastStatus<TArgs extends AnyActionArgs>(
  status: FromArgs<string, TArgs>,
  options: BroadcastStatusOptions = {},
): ComponentAction<TArgs> {
  return (args) => {
    const runtime = runtimeOf(args, "broadcastStatus");
    const eks = eksOf(runtime, options.to ?? `${runtime.name}.status`);
    const name = resolve(status, args);
    runtime.track(runtime.producer.send(new StatusMessage(name), { eks, mandatory: false }), `broadcasting status ${name}`);
  };
}
