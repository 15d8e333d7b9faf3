/**
 * A long step's progress (the clones of create, the copies of a restore), passed on as StepProgress
 * events once a second while it runs, so a follower sees bytes, files and a ticking clock inside a
 * step. Best effort: a progress event that cannot be published is not retried.
 */
import type { Progress } from "@rvss/storage";
import type { Step } from "@rvss/proto";
import type { Emit } from "./steps";

const PROGRESS_INTERVAL_MS = 1_000;

export interface ProgressReport {
  /** The callback for one part of the step (one copy), summed with the others. */
  part(key: string): (p: Progress) => void;
  stop(): void;
}

export function reportProgress(emit: Emit, step: Step, restoreId = ""): ProgressReport {
  const parts = new Map<string, Progress>();
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const all = [...parts.values()];
    const sum = (k: keyof Progress): number => all.reduce((n, p) => n + p[k], 0);
    sent++;
    emit({
      body: {
        $case: "stepProgress",
        value: {
          step,
          restoreId,
          bytesDone: BigInt(sum("bytes")),
          bytesTotal: BigInt(sum("bytesTotal")),
          filesDone: sum("files"),
          filesTotal: sum("filesTotal"),
          elapsedMs: Date.now() - started,
        },
      },
      discriminator: String(sent),
    }).catch(() => undefined);
  }, PROGRESS_INTERVAL_MS);
  timer.unref();
  return {
    part: (key) => (p) => void parts.set(key, p),
    stop: () => clearInterval(timer),
  };
}
