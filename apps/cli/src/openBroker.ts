import { type Broker, connect, RabbitDriver, resolveConnectionSettings, type TransportError } from "@postage/transport";

/** Codes that mean the broker cannot be reached at all: a command-line tool fails at once on them. */
const FATAL_BEFORE_CONNECT = new Set(["CONNECTION_REFUSED", "UNREACHABLE", "ACCESS_REFUSED", "VHOST_NOT_FOUND", "TLS"]);

/**
 * Connects for one command and waits until connected. Unlike a long-running component, a command
 * does not keep retrying a refused connection: the first refused or unreachable attempt fails it.
 * @throws {TransportError} `CONNECTION_REFUSED`/`UNREACHABLE`/`ACCESS_REFUSED`/`TIMEOUT`..., or `INVALID_URL` for a bad URL.
 */
export async function openBroker(url: string | undefined, connectTimeout: number): Promise<Broker> {
  const settings = resolveConnectionSettings(url === undefined ? {} : { url });
  if (settings.transport === "memory") {
    const broker = connect({ ...(url === undefined ? {} : { url }), shared: false });
    await broker.ready({ timeout: connectTimeout });
    return broker;
  }
  let failFast: (error: TransportError) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    failFast = reject;
  });
  failed.catch(() => undefined); // only raced below
  let connected = false;
  const driver = new RabbitDriver(
    // Heartbeats only matter to long-lived connections; a command lasts seconds (tail excepted, where the socket tells).
    { ...settings, heartbeat: 0 },
    {
      log: () => undefined,
      onError: (error) => {
        if (!connected && FATAL_BEFORE_CONNECT.has(error.code)) failFast(error);
      },
    },
  );
  const broker = connect({ driver });
  try {
    await Promise.race([broker.ready({ timeout: connectTimeout }), failed]);
    connected = true;
    return broker;
  } catch (error) {
    await broker.close().catch(() => undefined);
    throw error;
  }
}
