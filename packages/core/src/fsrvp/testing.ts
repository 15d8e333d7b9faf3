/** Deterministic helpers for the FSRVP tables (used by tests only; not exported by the package). */
import { formatUnc } from "../naming";
import { HRESULT } from "./hresult";
import * as op from "./operations";
import { emptySvmRecord, type Env, type SvmRecord } from "./types";

export const SVM = "vs1";
export const CLIENT = "10.0.0.5";
export const UNC1 = formatUnc(SVM, "share1");
export const UNC2 = formatUnc(SVM, "share2");
export const found = (share: string, volume = "vm_vol1") => ({
  kind: "found" as const,
  share,
  volume,
  sharePath: `dir/${share}`,
});

/** An environment whose clock and IDs are predictable: IDs count up, time moves only when told. */
export function testEnv(now = 1_000_000): Env & { tick(ms: number): void } {
  let n = 0;
  const env = {
    now,
    newId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    timers: { shortMs: 180_000, longMs: 1_800_000 },
    tick(ms: number) {
      env.now += ms;
    },
  };
  return env;
}

export type StateName =
  "NoContext" | "ContextSet" | "Started" | "Added" | "CreationInProgress" | "Committed" | "Exposed" | "Recovered";

export const STATES: StateName[] = ["Started", "Added", "CreationInProgress", "Committed", "Exposed", "Recovered"];

function must<T extends { hresult: number; record: SvmRecord }>(o: T): T {
  if (o.hresult !== HRESULT.ZERO) throw new Error(`setup step failed with 0x${o.hresult.toString(16)}`);
  return o;
}

/** Drives a fresh server to `state` through the operations; returns it with the set ID. */
export function recordIn(
  state: StateName,
  env: Env = testEnv(),
  context = 0x400000,
): { record: SvmRecord; setId: string; shadowCopyId: string } {
  let s = emptySvmRecord(SVM);
  if (state === "NoContext") return { record: s, setId: "", shadowCopyId: "" };
  s = must(op.setContext(s, { context, client: CLIENT }, env)).record;
  if (state === "ContextSet") return { record: s, setId: "", shadowCopyId: "" };
  const started = must(
    op.startShadowCopySet(s, { clientShadowCopySetId: "11111111-1111-4111-8111-111111111111", client: CLIENT }, env),
  );
  s = started.record;
  const setId = started.value!.shadowCopySetId;
  // No shadow copy exists yet; a well-formed ID keeps argument checks from masking state checks.
  if (state === "Started") return { record: s, setId, shadowCopyId: "33333333-3333-4333-8333-333333333333" };
  const added = must(
    op.addToShadowCopySet(s, { shadowCopySetId: setId, shareNameUnc: UNC1, lookup: found("share1") }, env),
  );
  s = added.record;
  const shadowCopyId = added.value!.shadowCopyId;
  const r = { setId, shadowCopyId };
  if (state === "Added") return { record: s, ...r };
  s = must(op.commitBegin(s, { shadowCopySetId: setId }, env)).record;
  if (state === "CreationInProgress") return { record: s, ...r };
  s = must(
    op.commitCompleted(
      s,
      {
        shadowCopySetId: setId,
        copies: [{ id: shadowCopyId, clonePath: `.shadowcopy/${shadowCopyId}`, bytes: 10, fileCount: 1 }],
      },
      env,
    ),
  ).record;
  if (state === "Committed") return { record: s, ...r };
  s = must(op.exposeBegin(s, { shadowCopySetId: setId }, env)).record;
  s = must(op.exposeCompleted(s, { shadowCopySetId: setId }, env)).record;
  if (state === "Exposed") return { record: s, ...r };
  s = must(op.recoveryCompleteBegin(s, { shadowCopySetId: setId }, env)).record;
  s = must(op.recoveryCompleted(s, { shadowCopySetId: setId })).record;
  return { record: s, ...r };
}
