import { spawn } from "node:child_process";

/**
 * Replaces the current process with a new run of the same program and arguments (Node cannot
 * exec in place): starts it with the same stdio, environment and working directory, then exits.
 */
export function replaceProcess(): never {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: process.env,
    cwd: process.cwd(),
    detached: false,
  });
  child.unref();
  process.exit(0);
}
