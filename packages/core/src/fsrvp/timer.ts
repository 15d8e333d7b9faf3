/**
 * The Message Sequence Timer (MS-FSRVP 3.1.2, 3.1.5): one per SVM record, armed and stopped by the
 * operations, carried by durable messages in the RVSS_TIMERS queue so it fires even if the process
 * that armed it died.
 */
import { ErrorCodes } from "../errors";
import { releaseContext, draft, ok } from "./record";
import { removeSet } from "./removal";
import type { ArmedTimer, Effect, Env, Outcome, SvmRecord } from "./types";

export function armTimer(s: SvmRecord, ms: number, env: Env): void {
  if (ms <= 0) {
    s.timer = null;
    return;
  }
  s.timerGeneration += 1;
  s.timer = { generation: s.timerGeneration, deadline: env.now + ms };
}

export function stopTimer(s: SvmRecord): void {
  s.timer = null;
}

/**
 * The Message Sequence Timer fired (MS-FSRVP 3.1.5): every set not Recovered is deleted (Exposed
 * ones too, unlike Samba) with its storage, and the context is released. A stale generation
 * (re-armed or stopped since) changes nothing.
 */
export function sequenceTimerExpired(
  record: SvmRecord,
  req: { generation: number; deadline: number },
  env: Env,
): Outcome {
  if (!record.timer || record.timer.generation !== req.generation || record.timer.deadline !== req.deadline)
    return ok(record);
  const s = draft(record);
  const effects: Effect[] = [];
  for (const set of s.sets.filter((x) => x.status !== "Recovered")) {
    effects.push(
      ...removeSet(
        s,
        set,
        "aborted",
        `the FSRVP message sequence timer expired in state ${set.status}`,
        ErrorCodes.TIMEOUT,
        env,
      ),
    );
  }
  stopTimer(s);
  releaseContext(s);
  return ok(s, undefined, effects);
}

/**
 * Whether the record's timer needs a new message in the timer queue: only when no message already
 * queued is due at or before the timer's deadline. Returns the record noting the new message.
 */
export function scheduleTimerMessage(record: SvmRecord): { record: SvmRecord; publish: ArmedTimer | null } {
  const t = record.timer;
  if (!t || (record.timerWakeAt !== undefined && record.timerWakeAt <= t.deadline)) return { record, publish: null };
  return { record: { ...record, timerWakeAt: t.deadline }, publish: t };
}

/**
 * A timer message came due (`messageDeadline` is when it was meant for; it may come earlier, right
 * after it was published, even before the write that armed the timer landed, so it first waits for
 * its own deadline). Then: with no timer left the message is done; with a later deadline it waits
 * again (`waitMs`); otherwise the timer expires (MS-FSRVP 3.1.5).
 */
export function timerMessageDue(
  record: SvmRecord,
  req: { messageDeadline: number },
  env: Env,
): Outcome<{ waitMs: number }> {
  if (env.now < req.messageDeadline) return ok(record, { waitMs: req.messageDeadline - env.now });
  const t = record.timer;
  const wake = record.timerWakeAt;
  if (!t) {
    if (wake === undefined || wake > req.messageDeadline) return ok(record);
    const s = draft(record);
    delete s.timerWakeAt;
    return ok(s);
  }
  if (t.deadline > env.now) {
    const next = wake !== undefined && wake > env.now ? Math.min(wake, t.deadline) : t.deadline;
    return ok(next === wake ? record : { ...record, timerWakeAt: next }, { waitMs: t.deadline - env.now });
  }
  const expired = sequenceTimerExpired(record, { generation: t.generation, deadline: t.deadline }, env);
  const s = expired.record === record ? draft(record) : expired.record;
  delete s.timerWakeAt;
  return { ...expired, record: s };
}
