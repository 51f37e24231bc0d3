import { type MessageProcessor, Scheduler } from "@postage/actors";
import { createInProcessSource, createInspectorServer, type InspectorServer } from "@postage/inspector";
import { connect, redactUrl } from "@postage/transport";
import { receiveAdvancedEcho, sendAdvancedEcho } from "./advancedEcho.js";
import { receiveBasicEcho, sendBasicEcho } from "./basicEcho.js";
import { type DemoContext, whenRunning } from "./DemoContext.js";
import { CHARGE_KEY, receiveDeadLetterDemo, sendDeadLetterDemo, showDeadLetters } from "./deadLetterDemo.js";
import { quitGenericApps, receiveGenericApps, sendGenericApps } from "./genericApp.js";
import { Printer } from "./Printer.js";
import { receiveRpcEcho, sendRpcEcho } from "./rpcEcho.js";
import { quitOrders, receiveOrders, sendOrders } from "./order.js";
import { sendQuit } from "./quit.js";
import { demoNames, type DemoNames, ECHO_FANOUT_KEY, ECHO_KEY } from "./settings.js";

/** The broker the tour uses when `POSTAGE_URL` is not set: the in-memory one. */
export const TOUR_URL = "memory://tour";

/** Options of {@link runTour}. */
export interface TourOptions {
  /** @default process.env.POSTAGE_URL, else "memory://tour" */
  url?: string;
  /** @default a printer on stdout */
  out?: Printer;
  /** @default demoNames() (from the environment) */
  names?: DemoNames;
  /** Serve the live inspector during the tour (and after it, until `keepInspector` resolves). @default false */
  inspect?: boolean;
  /** The inspector's port. @default 7373 */
  port?: number;
  /** Pause between sections, in ms (handy with the inspector open). @default 0, or 1500 with `inspect` */
  pauseMs?: number;
  /** With `inspect`: awaited after the tour before the inspector closes (e.g. until Ctrl-C). */
  keepInspector?: (inspector: InspectorServer) => Promise<void>;
}

/**
 * The tour: every demo flow, end to end, in one process: basic echo, advanced echo (round robin and
 * fan-out with two receivers), RPC echo, GenericApplications reached by every kind of address, dead letters, and
 * an order component whose behaviour is an XState machine.
 * Prints who sent what to whom and what came back. Runs on the in-memory broker unless a URL says
 * otherwise; every receiver is stopped with a `quit` command at the end of its section.
 * @throws {Error} when a flow does not behave (a message not received within 10 s), or the broker cannot be reached.
 */
export async function runTour(options: TourOptions = {}): Promise<void> {
  const url = options.url ?? (process.env.POSTAGE_URL || TOUR_URL);
  const out = options.out ?? new Printer();
  const names = options.names ?? demoNames();
  const started = performance.now();
  const broker = connect({ url, shared: false });
  const scheduler = new Scheduler({ broker, handleSignals: false });
  const ctx: DemoContext = { broker, scheduler, names, out };
  let inspector: InspectorServer | undefined;
  const source = createInProcessSource((listener) => scheduler.inspect(listener), { description: "the tour" });
  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? (options.inspect ? 1_500 : 0)));
  const stopped = async (actors: ReadonlyArray<Pick<MessageProcessor, "whenDone">>): Promise<void> => {
    await Promise.all(actors.map((actor) => actor.whenDone()));
  };
  const received = (who: string, text: string) => (line: { who: string; arrow: string; text: string }) => line.who.startsWith(who) && line.arrow === "<-" && line.text.includes(text);

  try {
    out.section(`Postage tour on ${redactUrl(url)}`, "every demo flow, end to end, in one process (`npm run demo -- --help` for the demos one by one)");
    await broker.ready({ timeout: 10_000 });
    if (options.inspect) {
      inspector = await createInspectorServer({ source, port: options.port ?? 7373, deadLetters: { broker } });
      out.note(`inspector: ${inspector.url}`);
    }

    await pause();
    out.section("1. Basic echo", `a receiver consumes queue ${names.echoQueue}, bound to ${names.echoExchange.name} with key ${ECHO_KEY}`);
    const basic = receiveBasicEcho(ctx);
    await whenRunning([basic]);
    await sendBasicEcho(ctx);
    await out.until(received("echo_receive", "A test message"), 1, "the basic echo");
    await sendQuit(ctx, ECHO_KEY);
    await stopped([basic]);
    out.line("echo_receive", "  ", basic.state);

    await pause();
    out.section("2. Advanced echo", `two receivers: shared queue ${names.echoQueue} (${ECHO_KEY}, round robin) and a private queue each (${ECHO_FANOUT_KEY}, fan-out)`);
    const advanced = [receiveAdvancedEcho(ctx, { index: 1 }), receiveAdvancedEcho(ctx, { index: 2 })];
    await whenRunning(advanced);
    await sendAdvancedEcho(ctx, { count: 4 });
    await out.until(received("echo_receive[", `key ${ECHO_KEY})`), 4, "4 round-robin echoes");
    await out.until(received("echo_receive[", `key ${ECHO_FANOUT_KEY})`), 2, "the fan-out echo at both receivers");
    const share = [1, 2].map((i) => out.count(received(`echo_receive[${i}]`, `key ${ECHO_KEY})`)));
    out.note(`round robin: receiver 1 got ${share[0]}, receiver 2 got ${share[1]} of 4; fan-out: each got the fan-out message once`);
    await sendQuit(ctx, ECHO_FANOUT_KEY);
    await stopped(advanced);
    out.line("echo_receive[*]", "  ", "both stopped (one quit on the fan-out key)");

    await pause();
    out.section("3. RPC echo", `the receiver answers every echo with a success result; the sender waits for it`);
    const rpc = receiveRpcEcho(ctx);
    await whenRunning([rpc]);
    if (!(await sendRpcEcho(ctx))) throw new Error("the RPC echo got no success result");
    await sendQuit(ctx, ECHO_KEY);
    await stopped([rpc]);
    out.line("echo_receive", "  ", rpc.state);

    await pause();
    out.section("4. GenericApplications", `three applications in one process on ${names.appExchange.name}: two monitors and a logger`);
    const apps = await receiveGenericApps(ctx, { verbose: false });
    out.note("");
    if (!(await sendGenericApps(ctx, { timeout: url.startsWith("memory:") ? 150 : 400 }))) throw new Error("the GenericApplications did not answer");
    out.note("");
    await quitGenericApps(ctx);
    await stopped(apps);
    out.line("@*", "  ", `all ${apps.length} applications stopped`);

    await pause();
    out.section("5. Dead letters", "what a receiver cannot handle waits in postage.dead-letter with the reason; listing it consumes nothing");
    const billing = receiveDeadLetterDemo(ctx);
    await whenRunning([billing.receiver]);
    showDeadLetters(ctx, await sendDeadLetterDemo(ctx, billing));
    out.note("`npx postage dlq list|show|replay|purge` work on them (on RabbitMQ), and the inspector's dead-letter panel shows them");
    await sendQuit(ctx, CHARGE_KEY);
    await stopped([billing.receiver]);

    await pause();
    out.section("6. A component with its own state machine", "an order: place, pay, ship, as commands of an XState machine; shipping before paying is refused");
    const orders = await receiveOrders(ctx, { stateDirectory: false });
    out.note("");
    if (!(await sendOrders(ctx))) throw new Error("the order did not walk through as expected");
    out.note("");
    await quitOrders(ctx);
    await stopped([orders]);
    out.line(orders.identity.name, "  ", `${orders.state}, its order ${orders.behaviourState}`);

    out.section(`Done: 6 flows in ${((performance.now() - started) / 1000).toFixed(1)} s.`, "Next: the same against RabbitMQ, one program per terminal: npm run demo -- basic-echo receive");
    if (inspector && options.keepInspector) await options.keepInspector(inspector);
  } finally {
    await inspector?.close();
    await source.close();
    await scheduler.close();
    await broker.close();
  }
}
