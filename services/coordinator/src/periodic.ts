/**
 * Runs a job now, then again `intervalMs` after each run ends (0: only now; a function: the pause
 * it gives after each run) until stopped; a failed run is logged and the next one comes.
 */
import { errorMessage } from "@rvss/core";
import type { Logger } from "@rvss/runtime";

export function every(
  intervalMs: number | (() => number),
  name: string,
  log: Logger,
  job: () => Promise<unknown>,
): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = job()
      .then(
        () => undefined,
        (err: unknown) => log.error({ err: errorMessage(err) }, `${name} failed; the next run retries`),
      )
      .finally(() => {
        const pause = typeof intervalMs === "function" ? intervalMs() : intervalMs;
        if (!stopped && pause > 0) timer = setTimeout(tick, pause);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
