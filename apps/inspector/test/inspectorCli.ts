// `postage inspect` as a program of its own, the way a person starts the inspector.
import { CLI_BIN, Program, RABBIT_URL } from "../../demos/test/processes.js";

/**
 * Starts `postage inspect --port 0 --json` on the RabbitMQ under test and resolves with the page's
 * URL once it serves (the program stops with the test helpers' `killAll`).
 * @throws {Error} when it has not printed its URL within 30 s.
 */
export async function startInspectorCli(): Promise<string> {
  const inspect = new Program(CLI_BIN, ["inspect", "--port", "0", "--json"], { POSTAGE_URL: RABBIT_URL });
  await inspect.waitFor(/"url"/, { timeout: 30_000 });
  return (JSON.parse(inspect.stdout.trim()) as { url: string }).url;
}
