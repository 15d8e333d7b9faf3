/** Runs a job now, then every `intervalMs` (0: only now) until stopped; a failed run is logged and the next one comes. */
import { errorMessage } from "@rvss/core";
import type { Logger } from "@rvss/runtime";

export function every(
  intervalMs: number,
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
        if (!stopped && intervalMs > 0) timer = setTimeout(tick, intervalMs);
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
