import { PostageError } from "@postage/core";
import { TransportError } from "@postage/transport";

/** The `postage` command's exit codes. */
export const EXIT = Object.freeze({
  /** Done. */
  OK: 0,
  /** The command ran but failed: an error or exception result, a broker error. */
  FAILED: 1,
  /** Bad command line: unknown command or option, missing argument, parameters that are not JSON. */
  USAGE: 2,
  /** No reply within the timeout. */
  TIMEOUT: 3,
  /** The broker refused the login (user, password, vhost). */
  LOGIN_REFUSED: 4,
  /** The broker cannot be reached (nothing listens, unknown host, TLS failure). */
  UNREACHABLE: 5,
  /** The exchange does not exist. */
  NO_EXCHANGE: 6,
  /** Nobody listens at that exchange and routing key (the message was returned unroutable). */
  NO_ROUTE: 7,
});

/** An exit code of the `postage` command. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Stable codes of {@link CliError}. */
export type CliErrorCode = "USAGE" | "TIMEOUT" | "FAILED";

/** A failure the command reports as one line on stderr, with an exit code. */
export class CliError extends PostageError {
  declare readonly code: CliErrorCode;
  constructor(
    code: CliErrorCode,
    message: string,
    /** The process exit code. */
    readonly exitCode: ExitCode,
  ) {
    super(code, message);
  }

  /** A command-line mistake (exit code 2). */
  static usage(message: string): CliError {
    return new CliError("USAGE", message, EXIT.USAGE);
  }
}

/** The exit code and one-line reason for any error a command may throw. */
export function describeFailure(error: unknown): { exitCode: ExitCode; reason: string } {
  if (error instanceof CliError) return { exitCode: error.exitCode, reason: error.message };
  if (error instanceof TransportError) {
    const reason = error.message.replace(/\s+/g, " ");
    switch (error.code) {
      case "ACCESS_REFUSED":
      case "VHOST_NOT_FOUND":
        return { exitCode: EXIT.LOGIN_REFUSED, reason: `login refused: ${reason}` };
      case "CONNECTION_REFUSED":
      case "UNREACHABLE":
      case "TLS":
        return { exitCode: EXIT.UNREACHABLE, reason: `broker unreachable: ${reason}` };
      case "EXCHANGE_NOT_FOUND":
        return { exitCode: EXIT.NO_EXCHANGE, reason: `missing exchange: ${reason}` };
      case "UNROUTABLE":
        return { exitCode: EXIT.NO_ROUTE, reason: `nobody listens there: ${reason}` };
      case "TIMEOUT":
        // A connection that never came up is an unreachable broker, whatever the last attempt said.
        if (/could not connect/.test(error.message)) return { exitCode: EXIT.UNREACHABLE, reason: `broker unreachable: ${reason}` };
        return { exitCode: EXIT.TIMEOUT, reason: `timeout: ${reason}` };
      case "INVALID_URL":
      case "INVALID_CONFIG":
        return { exitCode: EXIT.USAGE, reason };
      default:
        return { exitCode: EXIT.FAILED, reason: `${error.code}: ${reason}` };
    }
  }
  const text = error instanceof Error ? error.message : String(error);
  return { exitCode: EXIT.FAILED, reason: text.replace(/\s+/g, " ") };
}
