// `npm run demo` — the tour; `npm run demo -- <demo> <receive|send|quit>` — one side of a demo.
import { parseArgs } from "node:util";
import { Scheduler } from "@postage/actors";
import { connect, redactUrl, TransportError } from "@postage/transport";
import { receiveAdvancedEcho, sendAdvancedEcho } from "./advancedEcho.js";
import { receiveBasicEcho, sendBasicEcho } from "./basicEcho.js";
import { type DemoContext, type Startable, whenRunning } from "./DemoContext.js";
import { quitGenericApps, receiveGenericApps, sendGenericApps } from "./genericApp.js";
import { Printer } from "./Printer.js";
import { receiveRpcEcho, sendRpcEcho } from "./rpcEcho.js";
import { quitOrders, receiveOrders, sendOrders } from "./order.js";
import { sendQuit } from "./quit.js";
import { DEFAULT_DEMO_URL, demoNames, ECHO_FANOUT_KEY, ECHO_KEY } from "./settings.js";
import { runTour } from "./tour.js";

const HELP = `Postage demos

  npm run demo                               the tour: every flow, in one process, on the in-memory broker
                                             (on RabbitMQ when POSTAGE_URL is set)
  npm run demo -- --inspect [--port 7373]    the tour, slower, with the live inspector (Ctrl-C to leave)
                 [--pause ms]                pause between the tour's sections (default 1500 with --inspect)
  npm run demo -- <demo> receive             a receiver; it runs until it gets a quit command
  npm run demo -- <demo> send                the sender (advanced-echo: --count N round-robin messages)
  npm run demo -- <demo> quit                sends quit to the receiver(s)

  demos: basic-echo, advanced-echo, rpc-echo, generic-app, order

Environment: POSTAGE_URL (default ${DEFAULT_DEMO_URL} for the demos, memory://tour for the tour),
POSTAGE_DEMO_EXCHANGE, POSTAGE_DEMO_QUEUE, POSTAGE_DEMO_APP_EXCHANGE, POSTAGE_DEMO_APP_PREFIX,
POSTAGE_DEMO_STATE_DIR (where the order demo keeps its snapshot; default <tmpdir>/postage-demo-state).
`;

const DEMOS = ["basic-echo", "advanced-echo", "rpc-echo", "generic-app", "order"] as const;
type Demo = (typeof DEMOS)[number];

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      inspect: { type: "boolean" },
      port: { type: "string" },
      count: { type: "string" },
      pause: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [demo, role] = positionals;
  if (demo === undefined || demo === "tour") {
    const port = values.port === undefined ? undefined : Number(values.port);
    const pauseMs = values.pause === undefined ? undefined : Number(values.pause);
    await runTour({
      ...(values.inspect ? { inspect: true, keepInspector: untilInterrupted } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(pauseMs !== undefined ? { pauseMs } : {}),
    });
    return 0;
  }
  if (!DEMOS.includes(demo as Demo) || !["receive", "send", "quit"].includes(role ?? "")) {
    process.stderr.write(`unknown demo or role: ${positionals.join(" ")}\n\n${HELP}`);
    return 2;
  }
  const url = process.env.POSTAGE_URL || DEFAULT_DEMO_URL;
  const broker = connect({ url, shared: false });
  // Receivers publish inspection events, so that `postage inspect` shows them live.
  const scheduler = new Scheduler({ broker, inspect: role === "receive" });
  const ctx: DemoContext = { broker, scheduler, names: demoNames(), out: new Printer() };
  try {
    await broker.ready({ timeout: 10_000 });
    if (role === "receive") return await receive(ctx, demo as Demo, redactUrl(url));
    if (role === "quit") {
      if (demo === "generic-app") await quitGenericApps(ctx);
      else if (demo === "order") await quitOrders(ctx);
      else await sendQuit(ctx, demo === "advanced-echo" ? ECHO_FANOUT_KEY : ECHO_KEY);
      return 0;
    }
    switch (demo as Demo) {
      case "basic-echo":
        await sendBasicEcho(ctx);
        return 0;
      case "advanced-echo":
        await sendAdvancedEcho(ctx, { count: values.count === undefined ? 1 : Number(values.count) });
        return 0;
      case "rpc-echo":
        return (await sendRpcEcho(ctx)) ? 0 : 1;
      case "generic-app":
        return (await sendGenericApps(ctx)) ? 0 : 1;
      case "order":
        return (await sendOrders(ctx)) ? 0 : 1;
    }
  } finally {
    await scheduler.close();
    await broker.close();
  }
}

async function receive(ctx: DemoContext, demo: Demo, url: string): Promise<number> {
  let actors: Startable[];
  if (demo === "generic-app") {
    actors = await receiveGenericApps(ctx);
  } else if (demo === "order") {
    actors = [await receiveOrders(ctx, process.env.POSTAGE_DEMO_STATE_DIR ? { stateDirectory: process.env.POSTAGE_DEMO_STATE_DIR } : {})];
  } else {
    const actor = demo === "basic-echo" ? receiveBasicEcho(ctx) : demo === "advanced-echo" ? receiveAdvancedEcho(ctx) : receiveRpcEcho(ctx);
    actors = [actor];
    await whenRunning(actors);
  }
  ctx.out.note(`${demo} receiver ready on ${url} (pid ${process.pid}); stop it with \`npm run demo -- ${demo} quit\` or Ctrl-C`);
  const result = await ctx.scheduler.run();
  ctx.out.note(`${demo} receiver stopped (${result.reason})`);
  return result.failed.length === 0 ? 0 : 1;
}

function untilInterrupted(inspector: { url: string }): Promise<void> {
  process.stdout.write(`\nThe inspector stays at ${inspector.url} ; Ctrl-C to leave.\n`);
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

try {
  process.exitCode = await main();
} catch (error) {
  const text = error instanceof TransportError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`demo failed: ${text}\n`);
  process.exitCode = 1;
}
