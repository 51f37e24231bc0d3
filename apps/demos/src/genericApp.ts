import { addresses, GenericApplication, type InspectionEvent } from "@postage/actors";
import { Fingerprint, type ResultMessage } from "@postage/core";
import { createProducer, TransportError } from "@postage/transport";
import { type DemoContext, whenRunning } from "./DemoContext.js";

/** The demo's applications: two monitors (one in group "blue") and a logger (in "blue"). */
const FLEET = [
  { name: "monitor", groups: ["blue"] },
  { name: "monitor", groups: [] },
  { name: "logger", groups: ["blue"] },
] as const;

/** A short tag of an instance id, enough to tell the demo's applications apart. */
export function shortId(instance: unknown): string {
  return String(instance).slice(0, 6);
}

/**
 * Starts several GenericApplications in one process (two `monitor`s and a `logger`) and prints
 * every message they receive, with the routing key that reached them. Each answers `ping` and
 * `describe`, joins and leaves groups on `join_group` / `leave_group`, and stops on `quit`.
 * Resolves once all of them consume.
 */
export async function receiveGenericApps(ctx: DemoContext, options: { verbose?: boolean } = {}): Promise<GenericApplication[]> {
  const verbose = options.verbose ?? true;
  const { appExchange, appPrefix } = ctx.names;
  const apps = FLEET.map((spec) => ctx.scheduler.add(new GenericApplication({ name: `${appPrefix}${spec.name}`, groups: spec.groups, exchange: appExchange })));
  const names = new Map(apps.map((app) => [app.id, `${app.identity.name}(${shortId(app.id)})`]));
  const unsubscribe = ctx.scheduler.inspect((event: InspectionEvent) => {
    const who = names.get(event.actorId);
    if (who === undefined) return;
    if (verbose && event.kind === "message" && event.direction === "received") ctx.out.line(who, "<-", `${event.messageType} ${event.name}  (key ${event.routingKey})`);
    if (event.kind !== "transition" || event.from === event.to) return;
    // Machine-internal events (xstate.done...) say nothing to a reader: name only the commands, and the end.
    if (!event.event.startsWith("xstate.")) ctx.out.line(who, "  ", `${event.event}: ${event.from} -> ${event.to}`);
    else if (event.to === "stopped" || event.to === "failed") ctx.out.line(who, "  ", event.to);
  });
  // Stop listening once every application is gone (the scheduler may outlive them, as in the tour).
  void Promise.all(apps.map((app) => app.whenDone())).then(unsubscribe); // whenDone never rejects
  await whenRunning(apps);
  for (const app of apps) {
    ctx.out.line(names.get(app.id) ?? app.id, "  ", `up on ${appExchange.name}, groups [${app.groups.join(", ")}], pid ${app.identity.pid} on ${app.identity.host}`);
  }
  return apps;
}

interface Described {
  fingerprint: { name: string; instance: string; pid: string; host: string };
  groups: string[];
}

/**
 * The GenericApplication tour from the sending side: lists the applications (`describe` to `@*`),
 * pings one of the monitors by every kind of address and shows who answers, makes the other
 * monitor join and leave a group, and pings the group meanwhile.
 * @returns false when no demo application answered.
 */
export async function sendGenericApps(ctx: DemoContext, options: { timeout?: number } = {}): Promise<boolean> {
  const { appExchange, appPrefix } = ctx.names;
  const timeout = options.timeout ?? 500;
  const me = "generic_send";
  const producer = createProducer(ctx.broker, {
    exchanges: [[appExchange, addresses.everyone()]],
    fingerprint: Fingerprint.collect({ name: me, type: "application" }),
  });
  const who = (reply: ResultMessage): string => {
    const value = reply.value as Partial<Described["fingerprint"]> & { fingerprint?: Described["fingerprint"] };
    const fingerprint = value.fingerprint ?? value;
    return `${String(fingerprint.name)}(${shortId(fingerprint.instance)})`;
  };
  const gather = async (key: string, command: string, parameters: unknown = {}): Promise<ResultMessage[]> => {
    try {
      return await producer.to({ key }).gather(command, parameters, { timeout });
    } catch (error) {
      if (error instanceof TransportError && error.code === "UNROUTABLE") return [];
      throw error;
    }
  };
  const ping = async (key: string, what: string): Promise<void> => {
    const replies = await gather(key, "ping");
    const answers = replies.map(who).sort();
    ctx.out.line(me, "->", `${key.padEnd(34)} ${what}`);
    ctx.out.line("", "<-", answers.length === 0 ? "nobody answers" : `${answers.length} ${answers.length === 1 ? "reply" : "replies"}: ${answers.join(", ")}`);
  };
  const describeOne = async (instance: string): Promise<Described | undefined> => {
    const [reply] = await producer.to({ key: addresses.instance(instance) }).gather("describe", {}, { timeout, limit: 1 });
    return reply?.ok ? (reply.value as Described) : undefined;
  };
  const untilGroups = async (instance: string, has: boolean, group: string): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      const described = await describeOne(instance);
      if (described && described.groups.includes(group) === has) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`application ${instance} did not ${has ? "join" : "leave"} group ${group}`);
  };

  try {
    ctx.out.line(me, "->", `${addresses.everyone().padEnd(34)} rpc describe (every application answers)`);
    const fleet = (await gather(addresses.everyone(), "describe")).filter((r) => r.ok).map((r) => r.value as Described);
    fleet.sort((a, b) => a.fingerprint.name.localeCompare(b.fingerprint.name) || a.fingerprint.instance.localeCompare(b.fingerprint.instance));
    for (const app of fleet) {
      ctx.out.line("", "<-", `${app.fingerprint.name}(${shortId(app.fingerprint.instance)}) pid ${app.fingerprint.pid} on ${app.fingerprint.host}, groups [${app.groups.join(", ")}]`);
    }
    const monitorName = `${appPrefix}monitor`;
    const monitors = fleet.filter((app) => app.fingerprint.name === monitorName);
    const first = monitors.find((app) => app.groups.includes("blue")) ?? monitors[0];
    const other = monitors.find((app) => app !== first);
    if (first === undefined) {
      ctx.out.line(me, "!!", `no "${monitorName}" application answered: start them with \`npm run demo -- generic-app receive\``);
      return false;
    }
    const { host, pid, instance } = first.fingerprint;
    ctx.out.note("");
    ctx.out.note(`ping by every kind of address (fan-out keys reach many, /rr keys reach one):`);
    await ping(addresses.name(monitorName), "every monitor");
    await ping(addresses.nameRoundRobin(monitorName), "one monitor, round robin");
    await ping(addresses.host(host), "every application on the host");
    await ping(addresses.nameOnHost(monitorName, host), "every monitor on the host");
    await ping(addresses.nameOnHostRoundRobin(monitorName, host), "one monitor on the host");
    await ping(addresses.process(pid, host), "every application of that process");
    await ping(addresses.instance(instance), "exactly one application");
    await ping(addresses.group(monitorName, "blue"), "every monitor in group blue");
    await ping(addresses.groupRoundRobin(monitorName, "blue"), "one monitor in group blue");
    if (other !== undefined) {
      const target = addresses.instance(other.fingerprint.instance);
      ctx.out.note("");
      ctx.out.note(`groups joined and left at run time:`);
      ctx.out.line(me, "->", `${target.padEnd(34)} command join_group {"group_name":"red"}`);
      await producer.to({ key: target }).command("join_group", { group_name: "red" });
      await untilGroups(other.fingerprint.instance, true, "red");
      await ping(addresses.group(monitorName, "red"), "every monitor in group red");
      await ping(addresses.groupRoundRobin(monitorName, "red"), "one monitor in group red");
      ctx.out.line(me, "->", `${target.padEnd(34)} command leave_group {"group_name":"red"}`);
      await producer.to({ key: target }).command("leave_group", { group_name: "red" });
      await untilGroups(other.fingerprint.instance, false, "red");
      await ping(addresses.group(monitorName, "red"), "every monitor in group red");
    }
    return true;
  } finally {
    await producer.close();
  }
}

/** Sends `quit` to every application of the demo's exchange (`@*`). */
export async function quitGenericApps(ctx: DemoContext): Promise<void> {
  const producer = createProducer(ctx.broker, { exchanges: [[ctx.names.appExchange, addresses.everyone()]], mandatory: false });
  try {
    ctx.out.line("generic_send", "->", `${addresses.everyone()}  command quit`);
    await producer.command("quit");
  } finally {
    await producer.close();
  }
}

