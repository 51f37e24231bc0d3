import { describe, expect, it } from "vitest";
import { CommandMessage, RpcCommandMessage } from "./CommandMessage.js";
import { Fingerprint } from "./Fingerprint.js";
import { GenericMessage } from "./GenericMessage.js";
import { Message } from "./Message.js";
import { ErrorResult, ExceptionResult, SuccessResult } from "./ResultMessage.js";

describe("messages", () => {
  it("stamps a fingerprint (object or dictionary form)", () => {
    const fp = new Fingerprint({ name: "a", pid: "1" });
    expect(new CommandMessage("x").stamp(fp).fingerprint).toEqual(fp.toDict());
    expect(new CommandMessage("x").stamp(fp.toDict()).fingerprint).toEqual(fp.toDict());
  });

  it("compares by body, ignoring key order", () => {
    const a = new CommandMessage("sum", { a: 5, b: 6 });
    expect(a.equals(new CommandMessage("sum", { b: 6, a: 5 }))).toBe(true);
    expect(a.equals(new RpcCommandMessage("sum", { a: 5, b: 6 }))).toBe(false);
    expect(a.equals(new CommandMessage("sum", { a: 5, b: 7 }))).toBe(false);
    expect(a.equals(new CommandMessage("sum", { a: 5, b: 6 }).stamp(new Fingerprint({ name: "z" })))).toBe(false);
  });

  it("is falsy only for error and exception results", () => {
    expect([new SuccessResult(1).ok, new ErrorResult("no").ok, new ExceptionResult("E", "m").ok, new Message({ type: "x", name: "y" }).ok])
      .toEqual([true, false, false, true]);
  });

  it("turns a thrown error into an exception result with its name and message", () => {
    const result = ExceptionResult.fromError(new RangeError("too far"));
    expect([result.value, result.message]).toEqual(["RangeError", "too far"]);
    expect(ExceptionResult.fromError("plain").value).toBe("Error");
  });

  it("puts positional and keyword arguments of a generic message in args and kwds", () => {
    const message = new GenericMessage([1, "str"], { values: [1, 2] });
    expect(message.content).toEqual({ args: [1, "str"], kwds: { values: [1, 2] } });
    expect([message.args, message.kwds]).toEqual([[1, "str"], { values: [1, 2] }]);
  });
});
