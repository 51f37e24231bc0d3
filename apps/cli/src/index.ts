export { runCli, COMMANDS, type RunCliOptions } from "./runCli.js";
export { EXIT, CliError, describeFailure, type ExitCode, type CliErrorCode } from "./CliError.js";
export type { Command, CommandContext, OptionValues } from "./Command.js";
export type { Io } from "./Io.js";
