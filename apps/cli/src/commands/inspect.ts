import { createAmqpSource, createInspectorServer, DEFAULT_INSPECTOR_PORT } from "@postage/inspector";
import { EXIT } from "../CliError.js";
import { type Command, numberOption } from "../Command.js";
import { json } from "../table.js";

/** `postage inspect`: the live inspector, fed from the broker. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "serve the live inspector (actors, state machines, messages) for this broker",
  usage: "postage inspect [--port n] [--host addr] [--token secret] [--dead-letter-queue q]",
  details: `Consumes the postage.inspect exchange (where components publish their inspection events)
and serves the inspector's page until Ctrl-C.
  --port <n>        TCP port (default ${DEFAULT_INSPECTOR_PORT}; 0 picks a free one)
  --host <addr>     interface (default 127.0.0.1; any other needs --token)
  --token <secret>  required on every request
  --dead-letter-queue <q>  the queue of the dead-letter panel (default postage.dead-letter)`,
  positionals: { min: 0, max: 0 },
  options: { port: { type: "string" }, host: { type: "string" }, token: { type: "string" }, "dead-letter-queue": { type: "string" } },
  async run({ values, json: asJson, io, broker: open, signal }) {
    const port = numberOption(values, "port", DEFAULT_INSPECTOR_PORT);
    const broker = await open();
    const source = createAmqpSource({ broker });
    try {
      await source.ready();
      const server = await createInspectorServer({
        source,
        port,
        deadLetters: { broker, ...(typeof values["dead-letter-queue"] === "string" ? { queue: values["dead-letter-queue"] } : {}) },
        ...(typeof values.host === "string" ? { host: values.host } : {}),
        ...(typeof values.token === "string" ? { token: values.token } : {}),
      });
      try {
        io.out(asJson ? json({ url: server.url, port: server.port }) + "\n" : `inspector on ${server.url} (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      } finally {
        await server.close();
      }
    } finally {
      await source.close();
    }
    return EXIT.OK;
  },
};
