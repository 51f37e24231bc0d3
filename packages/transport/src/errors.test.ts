import { PostageError } from "@postage/core";
import { AMQPChannelError, AMQPConnectionError, AMQPError } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { TransportError, toTransportError } from "./errors.js";

// rabbitmq-client marks its error constructors @internal; these are the shapes it produces.
const connectionError = (code: string, message: string) => new (AMQPConnectionError as unknown as new (c: string, m: string) => Error)(code, message);
const channelError = (code: string, message: string) => new (AMQPChannelError as unknown as new (c: string, m: string) => Error)(code, message);
const plainError = (code: string, message: string) => new (AMQPError as unknown as new (c: string, m: string) => Error)(code, message);
const socketError = (code: string, message: string) => Object.assign(new Error(message), { code });

const hosts = [{ host: "rabbit.local", port: 5672 }];

describe("toTransportError", () => {
  it("is a PostageError with a code, and keeps the cause", () => {
    const cause = socketError("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.1:5672");
    const error = toTransportError(cause, { hosts });
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toBeInstanceOf(PostageError);
    expect(error.name).toBe("TransportError");
    expect(error.cause).toBe(cause);
    expect(toTransportError(error)).toBe(error);
  });

  it("names host and port when the connection is refused or the host unreachable", () => {
    const refused = toTransportError(socketError("ECONNREFUSED", "connect ECONNREFUSED"), { hosts });
    expect([refused.code, refused.host, refused.port]).toEqual(["CONNECTION_REFUSED", "rabbit.local", 5672]);
    expect(refused.message).toContain("rabbit.local:5672");
    const unknown = toTransportError(socketError("ENOTFOUND", "getaddrinfo ENOTFOUND rabbit.local"), { hosts });
    expect(unknown.code).toBe("UNREACHABLE");
    expect(unknown.message).toContain("rabbit.local:5672");
    expect(toTransportError(connectionError("CONNECTION_TIMEOUT", "connection timed out"), { hosts }).code).toBe("UNREACHABLE");
  });

  it("names user and vhost on a refused login, and says which variables to fix", () => {
    const error = toTransportError(
      connectionError("ACCESS_REFUSED", "ConnectionStartOK: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."),
      { hosts, user: "bob", vhost: "prod" },
    );
    expect([error.code, error.user, error.vhost]).toEqual(["ACCESS_REFUSED", "bob", "prod"]);
    expect(error.message).toMatch(/user "bob".*vhost "prod".*POSTAGE_USER and POSTAGE_PASSWORD/);
  });

  it("tells a missing vhost apart from a forbidden one", () => {
    const missing = toTransportError(connectionError("NOT_ALLOWED", "ConnectionOpen: NOT_ALLOWED - vhost nope not found"), { hosts, user: "bob", vhost: "nope" });
    expect(missing.code).toBe("VHOST_NOT_FOUND");
    const forbidden = toTransportError(connectionError("NOT_ALLOWED", "ConnectionOpen: NOT_ALLOWED - access to vhost 'prod' refused for user 'bob'"), { hosts, user: "bob", vhost: "prod" });
    expect(forbidden.code).toBe("ACCESS_REFUSED");
  });

  it("extracts exchange and queue names from NOT_FOUND replies", () => {
    const exchange = toTransportError(channelError("NOT_FOUND", "BasicPublish: NOT_FOUND - no exchange 'orders' in vhost '/'"), { routingKey: "k" });
    expect([exchange.code, exchange.exchange, exchange.routingKey]).toEqual(["EXCHANGE_NOT_FOUND", "orders", "k"]);
    expect(exchange.message).toContain('exchange "orders"');
    const queue = toTransportError(channelError("NOT_FOUND", "consumer setup failed; QueueDeclare: NOT_FOUND - no queue 'jobs' in vhost 'v'"), { vhost: "v" });
    expect([queue.code, queue.queue]).toEqual(["QUEUE_NOT_FOUND", "jobs"]);
  });

  it("maps the other broker replies", () => {
    const differs = toTransportError(channelError("PRECONDITION_FAILED", "ExchangeDeclare: PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': received 'direct' but current is 'topic'"), {});
    expect(differs.code).toBe("PRECONDITION_FAILED");
    expect(differs.message).toContain("inequivalent arg 'type' for exchange 'x'");
    const setup = toTransportError(channelError("PRECONDITION_FAILED", "consumer setup failed; QueueDeclare: PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/'"), {});
    expect(setup.message).toMatch(/^RabbitMQ refused the operation: inequivalent arg 'durable'.*declared with other settings/);
    // Other preconditions are not declarations that differ: no advice to redeclare.
    const stream = toTransportError(channelError("PRECONDITION_FAILED", "BasicConsume: PRECONDITION_FAILED - consumer prefetch count is not set for 'queue 's' in vhost '/''"), {});
    expect(stream.message).toBe("RabbitMQ refused the operation: consumer prefetch count is not set for 'queue 's' in vhost '/''");
    expect(toTransportError(channelError("RESOURCE_LOCKED", "QueueDeclare: RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q'"), {}).code).toBe("RESOURCE_LOCKED");
    expect(toTransportError(plainError("NACK", "message rejected by server"), { exchange: "e", routingKey: "k" }).code).toBe("PUBLISH_FAILED");
    expect(toTransportError(plainError("TIMEOUT", "channel aquisition timed out"), {}).code).toBe("TIMEOUT");
    expect(toTransportError(connectionError("CONN_CLOSE", "socket closed unexpectedly by server"), {}).code).toBe("CONNECTION_LOST");
    expect(toTransportError(connectionError("CONNECTION_FORCED", "CONNECTION_FORCED - closed via management plugin"), {}).code).toBe("CONNECTION_LOST");
    expect(toTransportError(connectionError("CLOSING", "channel creation failed; connection is closing"), {}).code).toBe("CLOSED");
    expect(toTransportError(socketError("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"), { hosts }).code).toBe("TLS");
    expect(toTransportError(socketError("EPROTO", "wrong version number"), { hosts }).code).toBe("TLS");
    expect(toTransportError(new Error("something else"), {}).code).toBe("BROKER_ERROR");
    expect(toTransportError("a string", {}).message).toContain("a string");
  });
});
