import { type ChildProcess, spawn } from "node:child_process";

/** Signals the original process passes on to the replacement (Ctrl-C, `docker stop`, `systemctl stop`, a closed terminal). */
const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Set in a replacement's environment: the pid of the original process that waits for it. */
const SUPERVISOR_ENV = "POSTAGE_RESTART_SUPERVISOR_PID";

/** The IPC message a replacement sends its original process to be replaced in turn. */
const RESTART_MESSAGE = "postage.restart";

/**
 * A signal sent to a whole process group (Ctrl-C in a terminal, `systemctl stop` with
 * `KillMode=control-group`) reaches the replacement directly *and* through the original: the
 * same signal again within this window, in ms, is that copy, not a second Ctrl-C.
 */
const DUPLICATE_SIGNAL_MS = 1_000;

/** Whether this process is a replacement started by {@link replaceProcess} and its original still waits. */
function supervised(): boolean {
  return process.env[SUPERVISOR_ENV] === String(process.ppid) && typeof process.send === "function";
}

// In a replacement: the IPC channel to the original must not keep this process alive (a program
// whose actors all stopped ends as usual), and a signal that arrives twice (see
// DUPLICATE_SIGNAL_MS) must not kill it mid-drain.
if (supervised()) {
  process.channel?.unref();
  for (const signal of FORWARDED) {
    let last = Number.NEGATIVE_INFINITY;
    const onSignal = (): void => {
      const now = Date.now();
      const duplicate = now - last < DUPLICATE_SIGNAL_MS;
      last = now;
      if (duplicate) return;
      // Someone else handles it (the Scheduler drains on SIGINT/SIGTERM): nothing to add.
      if (process.listenerCount(signal) > 1) return;
      // Nobody does: the signal's default action, as if this listener were not there.
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Runs the program again, in a new process, for a `restart` command (Node cannot exec in place).
 *
 * The first time, the current (original) process starts the same program with the same arguments,
 * environment, working directory and stdio, as its child, and stays: it forwards SIGINT, SIGTERM
 * and SIGHUP to it and exits with the child's exit code (or dies of the same signal). So the pid a
 * shell, a container runtime or a service manager knows stays alive for as long as the program
 * runs, and Ctrl-C, `docker stop` and `systemctl stop` still reach it. A restart of a replacement
 * asks the original (over IPC) to start the next one, so restarts never nest.
 *
 * What this means for addresses: the replacement has a pid of its own, so after a restart the
 * component answers on `{newpid}@{host}`; the original pid no longer names any component.
 * Anything else the program held open (a listening server) stays with the original while it waits.
 *
 * Never returns: the process exits when the replacement does.
 */
export function replaceProcess(): Promise<never> {
  if (supervised()) {
    // The original starts the next replacement once this one exits.
    process.send?.(RESTART_MESSAGE, () => process.exit(0));
    return new Promise<never>(() => undefined);
  }
  return superviseReplacements();
}

function superviseReplacements(): Promise<never> {
  let child: ChildProcess | undefined;
  const forward = (signal: NodeJS.Signals) => (): void => {
    child?.kill(signal);
  };
  const forwarders = FORWARDED.map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of forwarders) process.on(signal, handler);

  return new Promise<never>(() => {
    const start = (): void => {
      let again = false;
      const current = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
        stdio: ["inherit", "inherit", "inherit", "ipc"],
        env: { ...process.env, [SUPERVISOR_ENV]: String(process.pid) },
        cwd: process.cwd(),
      });
      child = current;
      current.on("message", (message) => {
        if (message === RESTART_MESSAGE) again = true;
      });
      current.once("error", (error) => {
        // Could not start at all (the executable vanished): nothing to wait for.
        console.error(`[postage] could not restart the process: ${error.message}`);
        process.exit(1);
      });
      current.once("exit", (code, signal) => {
        if (again && code === 0) {
          start();
          return;
        }
        for (const [forwarded, handler] of forwarders) process.off(forwarded, handler);
        if (signal !== null) {
          // Die the same way, so whoever waits for this pid sees what happened to the program.
          process.kill(process.pid, signal);
          return;
        }
        process.exit(code ?? 1);
      });
    };
    start();
  });
}
