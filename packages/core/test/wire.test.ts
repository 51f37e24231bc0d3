import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CommandMessage,
  decodeMessage,
  defineExchange,
  ErrorResult,
  ExceptionResult,
  exchangeParameters,
  Fingerprint,
  GenericMessage,
  jsonEncoder,
  type Message,
  RpcCommandMessage,
  StatusMessage,
  SuccessResult,
} from "@postage/core";

// Bodies recorded from Python Postage 1.2.1 (see fixtures/README.md).
interface Fixture {
  note: string;
  body: Record<string, unknown>;
  truthy?: boolean;
  tuple?: unknown[];
}
const fixtures = JSON.parse(readFileSync(new URL("./fixtures/postage-1.2.1-messages.json", import.meta.url), "utf8")) as Record<string, Fixture>;
const wire = JSON.parse(readFileSync(new URL("./fixtures/postage-1.2.1-wire.json", import.meta.url), "utf8")) as {
  frames: Array<{ properties: Record<string, string>; body_utf8: string }>;
};

const sender = new Fingerprint({ name: "echo_send", type: "application", pid: "4242", host: "node-a", user: "alice", vhost: "/" });

/** The same message built with our API, and the class decoding must give back. */
const built: Record<string, { message: Message; kind: abstract new (...args: never[]) => Message }> = {
  command_message: { message: new CommandMessage("echo", { a: 5, b: 6 }), kind: CommandMessage },
  command_message_positional: { message: new CommandMessage("echo", "A test message"), kind: CommandMessage },
  command_rpc: { message: new RpcCommandMessage("echo", "RPC test message"), kind: RpcCommandMessage },
  command_rpc_empty: { message: new RpcCommandMessage("ping"), kind: RpcCommandMessage },
  join_group: { message: new CommandMessage("join_group", { group_name: "blue" }), kind: CommandMessage },
  leave_group: { message: new CommandMessage("leave_group", { group_name: "blue" }), kind: CommandMessage },
  message_plain: { message: new GenericMessage([1, "str"], { values: [1, 2, 3] }), kind: GenericMessage },
  ping: { message: new RpcCommandMessage("ping"), kind: RpcCommandMessage },
  ping_reply: { message: new SuccessResult(sender.toDict()), kind: SuccessResult },
  quit: { message: new CommandMessage("quit"), kind: CommandMessage },
  restart: { message: new CommandMessage("restart"), kind: CommandMessage },
  result_error: { message: new ErrorResult("division by zero is not allowed"), kind: ErrorResult },
  result_exception: { message: new ExceptionResult("ZeroDivisionError", "division by zero"), kind: ExceptionResult },
  result_success: { message: new SuccessResult("RPC message received"), kind: SuccessResult },
  result_success_with_message: { message: new SuccessResult({ sum: 11 }, "done"), kind: SuccessResult },
  result_timeout: { message: new ExceptionResult("TimeoutError", ""), kind: ExceptionResult },
  status: { message: new StatusMessage("online"), kind: StatusMessage },
};

const messageFixtures = Object.entries(fixtures).filter(([name]) => !name.startsWith("_"));

describe("wire compatibility with Python Postage 1.2.1", () => {
  it("covers every recorded message", () => {
    expect(Object.keys(built).sort()).toEqual(messageFixtures.map(([name]) => name).sort());
  });

  describe.each(messageFixtures)("%s", (name, fixture) => {
    const expected = built[name]!;

    it("decodes to the right kind with the right fields", () => {
      const outcome = decodeMessage(new TextEncoder().encode(JSON.stringify(fixture.body)));
      if (!outcome.ok) throw outcome.error;
      expect(outcome.message).toBeInstanceOf(expected.kind);
      expect(outcome.message.type).toBe(fixture.body.type);
      expect(outcome.message.name).toBe(fixture.body.name);
      expect(outcome.message.category).toBe(fixture.body.category);
      expect(outcome.message.content).toEqual(fixture.body.content);
      expect(outcome.message.fingerprint).toEqual(fixture.body.fingerprint);
      expect(outcome.message.ok).toBe(fixture.truthy);
    });

    it("is built by our API into a JSON-equal body", () => {
      const body = expected.message.stamp(sender).toBody();
      expect(JSON.parse(new TextDecoder().decode(jsonEncoder.encode(body)))).toEqual(fixture.body);
      expect(expected.message.ok).toBe(fixture.truthy);
    });
  });

  it("matches the exchange parameters", () => {
    const exchange = defineExchange({ name: "custom_exchange", type: "fanout", passive: true, durable: false, autoDelete: true });
    expect(exchangeParameters(exchange)).toEqual(fixtures._exchange_parameters!.body);
  });

  it("matches the fingerprint's dictionary and tuple forms", () => {
    expect(sender.toDict()).toEqual(fixtures._fingerprint!.body);
    expect(sender.toTuple()).toEqual(fixtures._fingerprint!.tuple);
    expect(Fingerprint.fromDict(fixtures._fingerprint!.body).toDict()).toEqual(fixtures._fingerprint!.body);
  });

  it.each(wire.frames.map((frame, index) => [index, frame] as const))("decodes recorded AMQP frame %i", (_index, frame) => {
    const outcome = decodeMessage(new TextEncoder().encode(frame.body_utf8), { contentType: frame.properties.content_type });
    if (!outcome.ok) throw outcome.error;
    expect(outcome.body).toEqual(JSON.parse(frame.body_utf8));
  });

  it("recognises the recorded RPC reply as a success result", () => {
    const outcome = decodeMessage(new TextEncoder().encode(wire.frames[2]!.body_utf8));
    expect(outcome.ok && outcome.message instanceof SuccessResult && outcome.message.value).toBe("RPC message received");
  });
});
