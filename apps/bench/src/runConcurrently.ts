/**
 * Runs `task(0) .. task(n - 1)` with at most `concurrency` of them pending at once (workers take the
 * next index as soon as their previous task settles). Rejects with the first task error; the other
 * workers then stop taking new indices.
 */
export async function runConcurrently(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < n) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker);
  await Promise.all(workers);
}

/**
 * Times `n` RPC calls made `inFlight` at a time, recording each call's latency.
 * Rejects with the first failed call.
 */
export async function timeCalls(
  n: number,
  inFlight: number,
  call: (i: number) => Promise<void>,
): Promise<{ count: number; seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  const t0 = performance.now();
  await runConcurrently(n, inFlight, async (i) => {
    const start = performance.now();
    await call(i);
    latenciesMs.push(performance.now() - start);
  });
  return { count: n, seconds: (performance.now() - t0) / 1000, latenciesMs };
}
