/**
 * The events the coordinator itself publishes about sets and backups, built from the records alone,
 * with IDs that follow from what they report. Built the same way when first published and when
 * published again after a crash (replay.ts), so a repeat is recognised as the same event.
 */
import {
  setStartedEventId,
  sharesAddedEventId,
  creationStartedEventId,
  setAbortedEventId,
  setCompletedEventId,
  backupCreatedEventId,
} from "@rvss/core";
import type { BackupPlan, ShadowCopySet } from "@rvss/core";
import type { Event } from "@rvss/proto";
import { selectionToProto, shadowCopyToProto } from "./convert";

const SOURCE = "coordinator";

function setEvent(
  svm: string,
  setId: string,
  backupId: string | undefined,
  eventId: string,
  body: NonNullable<Event["body"]>,
): Event {
  return { eventId, time: new Date(), svm, setId, backupId: backupId ?? "", source: SOURCE, body };
}

export function setStartedEvent(svm: string, set: ShadowCopySet): Event {
  return setEvent(svm, set.id, set.backup?.backupId, setStartedEventId(set.id), {
    $case: "setStarted",
    value: { context: set.context, shares: (set.requested ?? []).map((r) => selectionToProto(svm, r)) },
  });
}

/** The shadow copies `ids` joined the set (a managed set adds all its shares at once, an agent one at a time). */
export function sharesAddedEvent(svm: string, set: ShadowCopySet, ids: string[]): Event {
  const copies = set.shadowCopies.filter((c) => ids.includes(c.id)).map((c) => shadowCopyToProto(c, set.context));
  return setEvent(svm, set.id, set.backup?.backupId, sharesAddedEventId(set.id, ids), {
    $case: "sharesAdded",
    value: { shadowCopies: copies },
  });
}

/** The latest attempt to make the set's copies began. */
export function creationStartedEvent(svm: string, set: ShadowCopySet): Event {
  return setEvent(svm, set.id, set.backup?.backupId, creationStartedEventId(set.id, set.attempts?.create ?? 0), {
    $case: "creationStarted",
    value: {},
  });
}

export function setAbortedEvent(
  svm: string,
  setId: string,
  backupId: string | undefined,
  reason: string,
  code: string,
): Event {
  return setEvent(svm, setId, backupId, setAbortedEventId(setId), { $case: "setAborted", value: { reason, code } });
}

export function setCompletedEvent(
  svm: string,
  setId: string,
  backupId: string,
  snapshots: { volume: string; name: string; takenAt?: number }[],
): Event {
  return setEvent(svm, setId, backupId, setCompletedEventId(setId), {
    $case: "setCompleted",
    value: {
      snapshots: snapshots.map((x) => ({
        svm,
        volume: x.volume,
        name: x.name,
        createdAt: new Date(x.takenAt ?? Date.now()),
        backupId,
        setId,
        shadowCopies: [],
      })),
    },
  });
}

/** Events stay small (NATS caps a message at 1 MB): a large backup's dataset is in GetBackup. */
const MAX_LISTED_SHARES = 1000;

export function backupCreatedEvent(b: BackupPlan): Event {
  return {
    eventId: backupCreatedEventId(b.id),
    time: new Date(b.createdAt),
    svm: "",
    setId: "",
    backupId: b.id,
    source: SOURCE,
    body: {
      $case: "backupCreated",
      value: {
        dataset: b.dataset.length <= MAX_LISTED_SHARES ? b.dataset.map((d) => selectionToProto(d.svm, d)) : [],
        setsPlanned: b.sets.length,
        shares: b.dataset.length,
      },
    },
  };
}
