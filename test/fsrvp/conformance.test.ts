/**
 * MS-FSRVP conformance over real gRPC against the four services running as processes. One test per
 * applicable row of the checklist that docs/fsrvp-conformance.md maps, named after the row; rows
 * that cannot apply here are listed there with the reason.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { status, type ServiceError } from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { HRESULT, STATE_BUCKET, parseUnc, svmKey } from "@rvss/core";
import { ErrorInfo, Status } from "@rvss/proto";
import type { AgentClient } from "@rvss/client";
import { copiesLeft, writableEntries } from "@rvss/testkit";
import {
  CLIENT_SET_ID,
  VM_FILE,
  driveTo,
  expectHResult,
  grpcCodeOf,
  startFsrvpSystem,
  unc,
  type FsrvpSystem,
} from "./system";

const SVMS = Array.from({ length: 70 }, (_, i) => `c${String(i + 1).padStart(2, "0")}`);
/** SVMs the abort race uses round after round. */
const RACE_SVMS = ["race1", "race2", "race3", "race4", "race5"];
let sys: FsrvpSystem;
let used = 0;
/** A client on an SVM no other test touched. */
const fresh = (): Promise<AgentClient> => sys.client(SVMS[used++]!);

beforeAll(async () => {
  sys = await startFsrvpSystem([...SVMS, ...RACE_SVMS]);
});
afterAll(async () => {
  await sys.stop();
});

const UNKNOWN = "99999999-9999-4999-8999-999999999999";

async function exposedPath(c: AgentClient, copyId: string, share = "share1"): Promise<string> {
  return sys.backend.exposedSharePath(c.svm, `${share}@{${copyId}}`);
}

describe("versions and contexts", () => {
  test("row 4: GetSupportedVersion answers 0 with Min = Max = 1", async () => {
    expect(await (await fresh()).getSupportedVersion()).toEqual({ minVersion: 1, maxVersion: 1 });
  });

  test("row 5: SetContext with each valid context (0x0, 0x10, 0x19, 0x09) answers 0", async () => {
    for (const ctx of [0x0, 0x10, 0x19, 0x09]) await (await fresh()).setContext(ctx);
  });

  test("row 6: SetContext with a context plus ATTR_AUTO_RECOVERY answers 0", async () => {
    await (await fresh()).setContext(0x00400000);
  });

  test("row 7: SetContext with a context plus ATTR_NO_AUTO_RECOVERY answers 0 (Samba refuses it)", async () => {
    await (await fresh()).setContext(0x10 | 0x2);
  });

  test("row 8: SetContext with an invalid value (0x1) is FSRVP_E_UNSUPPORTED_CONTEXT", async () => {
    const err = await expectHResult((await fresh()).setContext(0x1), HRESULT.FSRVP_E_UNSUPPORTED_CONTEXT);
    expect(grpcCodeOf(err)).toBe(status.INVALID_ARGUMENT);
  });

  test("row 9: SetContext from a second client while the context is set is IN_PROGRESS", async () => {
    const a = await fresh();
    await a.setContext(0);
    const b = await sys.client(a.svm, "admin");
    const err = await expectHResult(b.setContext(0), HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    expect(grpcCodeOf(err)).toBe(status.ALREADY_EXISTS);
  });

  test("row 10: SetContext repeated by the owner drops its unfinished set; beyond 5 retries it is IN_PROGRESS", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    for (let i = 0; i < 5; i++) await c.setContext(0);
    await expectHResult(c.prepareShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    await expectHResult(c.setContext(0), HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  });
});

describe("StartShadowCopySet", () => {
  test("row 11: StartShadowCopySet without a prior SetContext is FSRVP_E_BAD_STATE", async () => {
    const err = await expectHResult((await fresh()).startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_BAD_STATE);
    expect(grpcCodeOf(err)).toBe(status.FAILED_PRECONDITION);
  });

  test.each(["Started", "Added", "Committed"] as const)(
    "row 12: StartShadowCopySet while another set is %s is IN_PROGRESS",
    async (state) => {
      const c = await fresh();
      await driveTo(c, state);
      await expectHResult(c.startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
    },
  );

  test("row 13: StartShadowCopySet while another set is Exposed is IN_PROGRESS (Samba allows it)", async () => {
    const c = await fresh();
    await driveTo(c, "Exposed");
    await expectHResult(c.startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  });

  test("row 14: StartShadowCopySet with a zero ClientShadowCopySetId is E_INVALIDARG", async () => {
    const c = await fresh();
    await c.setContext(0);
    await expectHResult(c.startShadowCopySet("00000000-0000-0000-0000-000000000000"), HRESULT.E_INVALIDARG);
  });

  test("rows 15-16: StartShadowCopySet answers 0 and a server-generated set ID", async () => {
    const c = await fresh();
    await c.setContext(0);
    const { shadowCopySetId } = await c.startShadowCopySet(CLIENT_SET_ID);
    expect(shadowCopySetId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(shadowCopySetId).not.toBe(CLIENT_SET_ID);
  });
});

describe("AddToShadowCopySet", () => {
  test("row 17: AddToShadowCopySet on an unknown set is FSRVP_E_SHADOWCOPYSET_ID_MISMATCH", async () => {
    const c = await fresh();
    await c.setContext(0);
    const err = await expectHResult(
      c.addToShadowCopySet(UNKNOWN, unc(c.svm, "share1")),
      HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
    );
    expect(grpcCodeOf(err)).toBe(status.NOT_FOUND);
  });

  test("row 18: AddToShadowCopySet on a nonexistent share is FSRVP_E_OBJECT_NOT_FOUND", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    const err = await expectHResult(c.addToShadowCopySet(setId, unc(c.svm, "nope")), HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
    expect(err.message).toMatch(/share "nope" does not exist/);
  });

  test("row 19: AddToShadowCopySet on a share without snapshot support (a volume junction below it) is FSRVP_E_NOT_SUPPORTED, with the reason", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    const err = await expectHResult(c.addToShadowCopySet(setId, unc(c.svm, "mounts")), HRESULT.FSRVP_E_NOT_SUPPORTED);
    expect(err.message).toMatch(/"inner" in share "mounts" is a volume junction/);
  });

  test("row 20: AddToShadowCopySet accepts the UNC with and without a trailing backslash", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    await c.addToShadowCopySet(setId, unc(c.svm, "share1", true));
    await c.addToShadowCopySet(setId, unc(c.svm, "share2", false));
  });

  test("row 21: AddToShadowCopySet of the same share twice is FSRVP_E_OBJECT_ALREADY_EXISTS", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    const err = await expectHResult(
      c.addToShadowCopySet(setId, unc(c.svm, "SHARE1", true)),
      HRESULT.FSRVP_E_OBJECT_ALREADY_EXISTS,
    );
    expect(grpcCodeOf(err)).toBe(status.ALREADY_EXISTS);
  });

  test("row 22: a second share on the same volume gets its own shadow copy (ONTAP: one copy per share; see docs)", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Added");
    const second = await c.addToShadowCopySet(setId, unc(c.svm, "share2"));
    expect(second.shadowCopyId).not.toBe(copyId);
  });

  test.each(["Committed", "Exposed", "Recovered"] as const)(
    "row 23: AddToShadowCopySet in %s is FSRVP_E_BAD_STATE",
    async (state) => {
      const c = await fresh();
      const { setId } = await driveTo(c, state);
      await expectHResult(c.addToShadowCopySet(setId, unc(c.svm, "share2")), HRESULT.FSRVP_E_BAD_STATE);
    },
  );

  test("row 24: AddToShadowCopySet answers 0 and a new shadow copy GUID", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    const { shadowCopyId } = await c.addToShadowCopySet(setId, unc(c.svm, "share1"));
    expect(shadowCopyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(shadowCopyId).not.toBe(setId);
  });
});

describe("servers and hosts", () => {
  test("SetContext naming an SVM the storage does not know is E_INVALIDARG and leaves no record", async () => {
    const c = await sys.client("nosuch");
    const err = await expectHResult(c.setContext(0), HRESULT.E_INVALIDARG);
    expect(err.message).toContain('no SVM "nosuch"');
    await expectHResult(c.startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_BAD_STATE);
    const nc = await connect({ servers: sys.nats.url, ...sys.users.connectOptions("coordinator") });
    try {
      const kv = await new Kvm(nc).open(STATE_BUCKET);
      expect(await kv.get(svmKey("nosuch"))).toBeNull();
    } finally {
      await nc.close();
    }
  });

  test("a UNC path whose host is neither the SVM nor one of its aliases is FSRVP_E_OBJECT_NOT_FOUND", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    const err = await expectHResult(
      c.addToShadowCopySet(setId, unc("anything", "share1")),
      HRESULT.FSRVP_E_OBJECT_NOT_FOUND,
    );
    expect(err.message).toContain('host "anything"');
    await expectHResult(c.isPathSupported(unc("anything", "share1")), HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
    // An alias from the filer description is the same server.
    await c.addToShadowCopySet(setId, unc(`${c.svm}.corp.example`, "share1"));
  });
});

describe("Prepare and Commit", () => {
  test("row 25: PrepareShadowCopySet in Started (nothing added) is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    await expectHResult(c.prepareShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 26: PrepareShadowCopySet answers 0", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    await c.prepareShadowCopySet(setId);
  });

  test("rows 27 and 29: a Commit that exceeds TimeOutInMilliseconds is FSSAGENT_E_TIMEOUT; retried while CreationInProgress it completes", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    // Big enough that the copy takes far longer than the 1 ms the first Commit allows.
    await fsp.writeFile(path.join(sys.shareDir(c.svm, "share1"), VM_FILE), Buffer.alloc(128 * 1024 * 1024, 7));
    const err = await expectHResult(c.commitShadowCopySet(setId, 1), HRESULT.FSSAGENT_E_TIMEOUT);
    expect(grpcCodeOf(err)).toBe(status.DEADLINE_EXCEEDED);
    await c.commitShadowCopySet(setId, 60_000);
    await c.exposeShadowCopySet(setId);
  });

  test("row 27: a Commit retried after its timeout, once the copies exist, answers 0 and the set is Committed", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    await fsp.writeFile(path.join(sys.shareDir(c.svm, "share1"), VM_FILE), Buffer.alloc(64 * 1024 * 1024, 7));
    await expectHResult(c.commitShadowCopySet(setId, 1), HRESULT.FSSAGENT_E_TIMEOUT);
    await sys.events.waitFor((e) => e.event.setId === setId && e.event.body?.$case === "shadowCopiesCreated");
    // The work is done, but Commit has not completed: the set is still CreationInProgress.
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
    await c.commitShadowCopySet(setId, 60_000);
    await c.exposeShadowCopySet(setId);
  });

  test("row 27: an Expose that exceeds TimeOutInMilliseconds is FSRVP_E_WAIT_TIMEOUT (0x102); retried once exposed it answers 0", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Committed");
    // Exposing takes a few ms, so 1 ms may or may not be enough: a timeout must be WAIT_TIMEOUT, and
    // the set is Exposed only once an Expose completed.
    const timedOut = await c.exposeShadowCopySet(setId, 1).then(
      () => false,
      async (err: Error) => {
        const e = await expectHResult(Promise.reject(err), HRESULT.FSRVP_E_WAIT_TIMEOUT);
        expect(grpcCodeOf(e)).toBe(status.DEADLINE_EXCEEDED);
        return true;
      },
    );
    if (timedOut) {
      await sys.events.waitFor((e) => e.event.setId === setId && e.event.body?.$case === "shadowCopiesExposed");
      await expectHResult(c.getShareMapping(copyId, setId, unc(c.svm, "share1")), HRESULT.FSRVP_E_BAD_STATE);
      await c.exposeShadowCopySet(setId);
    }
    await c.getShareMapping(copyId, setId, unc(c.svm, "share1"));
    await c.recoveryCompleteShadowCopySet(setId);
  });

  test("Abort racing a late clone leaves nothing on disk (20 rounds)", async () => {
    for (let round = 0; round < 20; round++) {
      const c = await sys.client(RACE_SVMS[round % RACE_SVMS.length]!);
      const { setId } = await driveTo(c, "Added");
      await fsp.writeFile(path.join(sys.shareDir(c.svm, "share1"), VM_FILE), Buffer.alloc(16 * 1024 * 1024, round));
      await expectHResult(c.commitShadowCopySet(setId, 1), HRESULT.FSSAGENT_E_TIMEOUT);
      await c.abortShadowCopySet(setId);
      // The clone finishes (or fails) after the abort; its removal follows its report.
      await sys.events.waitFor(
        (e) =>
          e.event.setId === setId &&
          (e.event.body?.$case === "shadowCopiesCreated" || e.event.body?.$case === "stepFailed"),
      );
      await sys.events.waitFor((e) => e.event.setId === setId && e.event.body?.$case === "shadowCopiesDeleted");
      expect(await sys.backend.listShadowCopies(c.svm)).toEqual([]);
      expect(await copiesLeft(path.join(sys.dir, "filer", c.svm, "vm_vol1", ".shadowcopy"))).toEqual([]);
    }
  }, 120_000);

  test("row 28: CommitShadowCopySet in Started is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    await expectHResult(c.commitShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 30: when the storage fails, Commit returns the error, the set is back in Added and nothing is left", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    execFileSync("mkfifo", [path.join(sys.shareDir(c.svm, "share1"), "vm1", "pipe")]);
    const err = await expectHResult(c.commitShadowCopySet(setId), HRESULT.E_FAIL);
    expect(err.message).toMatch(/"vm1\/pipe" in share "share1" is a FIFO/);
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
    await c.prepareShadowCopySet(setId);
    expect(await sys.backend.listShadowCopies(c.svm)).toEqual([]);
    await fsp.rm(path.join(sys.shareDir(c.svm, "share1"), "vm1", "pipe"));
    await c.commitShadowCopySet(setId);
  });

  test("rows 31-32: Commit answers 0, the set is Committed and, with ATTR_AUTO_RECOVERY, the copy on disk is writable", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Committed");
    await expectHResult(c.commitShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
    const copies = await sys.backend.listShadowCopies(c.svm);
    expect(copies.map((x) => x.shadowCopyId)).toEqual([copyId]);
    await c.exposeShadowCopySet(setId);
    await fsp.appendFile(path.join(await exposedPath(c, copyId), VM_FILE), "recovered");
  });
});

describe("Expose", () => {
  test("row 33: ExposeShadowCopySet before Commit is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 34: ExposeShadowCopySet answers 0 and the share share@{ShadowCopyId} exists (lowercase GUID)", async () => {
    const c = await fresh();
    const { copyId } = await driveTo(c, "Exposed");
    expect((await sys.backend.listExposedShares(c.svm)).map((s) => s.name)).toEqual([
      `share1@{${copyId.toLowerCase()}}`,
    ]);
  });

  test("row 36: a hidden base share x$ is exposed as x$@{GUID}$", async () => {
    const c = await fresh();
    await c.setContext(0x400000);
    const { shadowCopySetId } = await c.startShadowCopySet(CLIENT_SET_ID);
    const { shadowCopyId } = await c.addToShadowCopySet(shadowCopySetId, unc(c.svm, "hidden$"));
    await c.commitShadowCopySet(shadowCopySetId);
    await c.exposeShadowCopySet(shadowCopySetId);
    expect((await sys.backend.listExposedShares(c.svm)).map((s) => s.name)).toEqual([`hidden$@{${shadowCopyId}}$`]);
    const m = await c.getShareMapping(shadowCopyId, shadowCopySetId, unc(c.svm, "hidden$"));
    expect(m.shareMapping?.shadowCopyShareName).toBe(`\\\\${c.svm}\\hidden$@{${shadowCopyId}}$`);
  });

  test("row 37: the exposed copy holds the base content as at commit time", async () => {
    const c = await fresh();
    const file = path.join(sys.shareDir(c.svm, "share1"), VM_FILE);
    const before = await fsp.readFile(file);
    const { copyId } = await driveTo(c, "Committed");
    await fsp.writeFile(file, "changed after commit");
    const copy = path.join(sys.dir, "filer", c.svm, "vm_vol1", ".shadowcopy", copyId, VM_FILE);
    expect((await fsp.readFile(copy)).equals(before)).toBe(true);
  });
});

describe("GetShareMapping", () => {
  test("row 39: GetShareMapping with Level != 1 is E_INVALIDARG", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Exposed");
    await expectHResult(c.getShareMapping(copyId, setId, unc(c.svm, "share1"), 2), HRESULT.E_INVALIDARG);
  });

  test("row 40: GetShareMapping on an unknown set is FSRVP_E_SHADOWCOPYSET_ID_MISMATCH", async () => {
    const c = await fresh();
    const { copyId } = await driveTo(c, "Exposed");
    await expectHResult(
      c.getShareMapping(copyId, UNKNOWN, unc(c.svm, "share1")),
      HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
    );
  });

  test.each(["Added", "Committed"] as const)("row 41: GetShareMapping in %s is FSRVP_E_BAD_STATE", async (state) => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, state);
    await expectHResult(c.getShareMapping(copyId, setId, unc(c.svm, "share1")), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 41: GetShareMapping in Started is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Started");
    await expectHResult(c.getShareMapping(UNKNOWN, setId, unc(c.svm, "share1")), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 42: GetShareMapping in Recovered is FSRVP_E_BAD_STATE (Samba allows it)", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Recovered");
    await expectHResult(c.getShareMapping(copyId, setId, unc(c.svm, "share1")), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 43: GetShareMapping with an unknown shadow copy or share is E_INVALIDARG", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Exposed");
    await expectHResult(c.getShareMapping(UNKNOWN, setId, unc(c.svm, "share1")), HRESULT.E_INVALIDARG);
    await expectHResult(c.getShareMapping(copyId, setId, unc(c.svm, "share2")), HRESULT.E_INVALIDARG);
  });

  test("row 44: GetShareMapping echoes the IDs and answers UNC names and a FILETIME", async () => {
    const c = await fresh();
    const addedAt = Date.now();
    const { setId, copyId } = await driveTo(c, "Exposed");
    const { shareMapping: m } = await c.getShareMapping(copyId, setId, unc(c.svm, "share1", true));
    expect(m).toEqual(
      expect.objectContaining({
        shadowCopySetId: setId,
        shadowCopyId: copyId,
        shareNameUnc: unc(c.svm, "share1"),
        shadowCopyShareName: `\\\\${c.svm}\\share1@{${copyId}}`,
      }),
    );
    expect(parseUnc(m!.shadowCopyShareName)).toEqual({ host: c.svm, share: `share1@{${copyId}}` });
    const ms = Number(m!.creationTimestamp / 10_000n - 11_644_473_600_000n);
    expect(Math.abs(ms - addedAt)).toBeLessThan(10_000);
  });
});

describe("RecoveryComplete", () => {
  test("row 45: RecoveryCompleteShadowCopySet before Expose is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Committed");
    await expectHResult(c.recoveryCompleteShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
  });

  test("row 46: RecoveryComplete answers 0, the set is Recovered and the context is released", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Recovered");
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_BAD_STATE);
    await (await sys.client(c.svm, "admin")).setContext(0);
  });

  test("rows 32 and 47: an auto-recovery copy takes writes until RecoveryComplete and refuses them after, on disk", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Exposed");
    const copy = await exposedPath(c, copyId);
    const file = path.join(copy, VM_FILE);
    await fsp.appendFile(file, "writer repaired this");
    expect(await writableEntries(copy)).toContain(VM_FILE);
    await c.recoveryCompleteShadowCopySet(setId);
    // No write bit left: read-only for every user but root (the snapshot is what root cannot change).
    expect(await writableEntries(copy)).toEqual([]);
    expect((await fsp.readFile(file, "utf8")).endsWith("writer repaired this")).toBe(true);
  });

  test("row 32 (without ATTR_AUTO_RECOVERY): the exposed copy is read-only from the start", async () => {
    const c = await fresh();
    const { copyId } = await driveTo(c, "Exposed", 0x0);
    expect(await writableEntries(await exposedPath(c, copyId))).toEqual([]);
  });
});

describe("Abort", () => {
  test("row 48: AbortShadowCopySet on an unknown set is FSRVP_E_SHADOWCOPYSET_ID_MISMATCH", async () => {
    await expectHResult((await fresh()).abortShadowCopySet(UNKNOWN), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  });

  test.each(["Started", "Added"] as const)(
    "rows 49-50: Abort of a %s set answers 0, removes it and releases the context",
    async (state) => {
      const c = await fresh();
      const { setId } = await driveTo(c, state);
      await c.abortShadowCopySet(setId);
      await expectHResult(c.addToShadowCopySet(setId, unc(c.svm, "share1")), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
      await (await sys.client(c.svm, "admin")).setContext(0);
    },
  );

  test.each(["Committed", "Exposed"] as const)(
    "row 51: Abort of a %s set removes it and its storage (Samba keeps it)",
    async (state) => {
      const c = await fresh();
      const { setId } = await driveTo(c, state);
      await c.abortShadowCopySet(setId);
      await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
      await waitUntil(
        async () =>
          (await sys.backend.listShadowCopies(c.svm)).length === 0 &&
          (await sys.backend.listExposedShares(c.svm)).length === 0,
      );
    },
  );
});

describe("path queries", () => {
  test("row 53: IsPathSupported on a supported share answers TRUE and the SVM as owner", async () => {
    const c = await fresh();
    expect(await c.isPathSupported(unc(c.svm, "share1", true))).toEqual({
      supportedByThisProvider: true,
      ownerMachineName: c.svm,
    });
  });

  test("row 54: IsPathSupported on an unsupported share is FSRVP_E_NOT_SUPPORTED, with the reason", async () => {
    const c = await fresh();
    const err = await expectHResult(c.isPathSupported(unc(c.svm, "mounts")), HRESULT.FSRVP_E_NOT_SUPPORTED);
    expect(err.message).toMatch(/junction/);
  });

  test("rows 19 and 54: a share whose layout breaks the Remote VSS rules is FSRVP_E_NOT_SUPPORTED for IsPathSupported and AddToShadowCopySet, naming the path", async () => {
    const c = await fresh();
    await fsp.symlink("/etc", path.join(sys.shareDir(c.svm, "share2"), "vm2", "etc-link"));
    const err = await expectHResult(c.isPathSupported(unc(c.svm, "share2")), HRESULT.FSRVP_E_NOT_SUPPORTED);
    expect(err.message).toMatch(/vm2\/etc-link/);
    const { setId } = await driveTo(c, "Started");
    const added = await expectHResult(c.addToShadowCopySet(setId, unc(c.svm, "share2")), HRESULT.FSRVP_E_NOT_SUPPORTED);
    expect(added.message).toMatch(/vm2\/etc-link/);
  });

  test("row 55: IsPathSupported on a nonexistent share is FSRVP_E_OBJECT_NOT_FOUND", async () => {
    const c = await fresh();
    await expectHResult(c.isPathSupported(unc(c.svm, "nope")), HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  });

  test("row 56: IsPathShadowCopied is FALSE before Commit and TRUE after (Samba does not implement it)", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    expect(await c.isPathShadowCopied(unc(c.svm, "share1"))).toEqual({
      shadowCopyPresent: false,
      shadowCopyCompatibility: 0,
    });
    await c.commitShadowCopySet(setId);
    expect(await c.isPathShadowCopied(unc(c.svm, "share1"))).toEqual({
      shadowCopyPresent: true,
      shadowCopyCompatibility: 0,
    });
    expect((await c.isPathShadowCopied(unc(c.svm, "share2"))).shadowCopyPresent).toBe(false);
  });
});

describe("DeleteShareMapping", () => {
  test("row 57: DeleteShareMapping on an unknown set is FSRVP_E_OBJECT_NOT_FOUND", async () => {
    const c = await fresh();
    const { copyId } = await driveTo(c, "Exposed");
    await expectHResult(c.deleteShareMapping(UNKNOWN, copyId, unc(c.svm, "share1")), HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  });

  test("row 58: DeleteShareMapping with an unknown shadow copy is FSRVP_E_OBJECT_NOT_FOUND", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Exposed");
    await expectHResult(c.deleteShareMapping(setId, UNKNOWN, unc(c.svm, "share1")), HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  });

  test("row 59: DeleteShareMapping before Expose is FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Committed");
    await expectHResult(c.deleteShareMapping(setId, copyId, unc(c.svm, "share1")), HRESULT.FSRVP_E_BAD_STATE);
  });

  test.each(["Exposed", "Recovered"] as const)(
    "row 60: DeleteShareMapping in %s answers 0; share and copy are gone, then the set",
    async (state) => {
      const c = await fresh();
      const { setId, copyId } = await driveTo(c, state);
      await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
      expect(await sys.backend.listExposedShares(c.svm)).toEqual([]);
      expect(await sys.backend.listShadowCopies(c.svm)).toEqual([]);
      await expectHResult(
        c.getShareMapping(copyId, setId, unc(c.svm, "share1")),
        HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
      );
    },
  );
});

describe("arguments", () => {
  test("a call without an SVM, or with an ID that is not a GUID, is E_INVALIDARG", async () => {
    await expectHResult((await sys.client("")).getSupportedVersion(), HRESULT.E_INVALIDARG);
    const c = await fresh();
    await c.setContext(0);
    await expectHResult(c.addToShadowCopySet("not-a-guid", unc(c.svm, "share1")), HRESULT.E_INVALIDARG);
    await expectHResult(c.addToShadowCopySet(UNKNOWN, "share1 without UNC form"), HRESULT.E_INVALIDARG);
  });
});

describe("errors on the wire", () => {
  test("a failure is one google.rpc.Status holding an rvss.v1.ErrorInfo with the HRESULT, the SVM and the set", async () => {
    const c = await fresh();
    const err = await expectHResult(c.abortShadowCopySet(UNKNOWN), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    const trailers = (err.cause as ServiceError).metadata;
    const sent = Status.decode(trailers.get("grpc-status-details-bin")[0] as Buffer);
    expect([sent.code, sent.message]).toEqual([status.NOT_FOUND, err.message]);
    expect(sent.details.map((d) => d.typeUrl)).toEqual(["type.googleapis.com/rvss.v1.ErrorInfo"]);
    expect(ErrorInfo.decode(sent.details[0]!.value)).toEqual(
      expect.objectContaining({
        code: "FSRVP",
        hresult: HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
        svm: c.svm,
        setId: UNKNOWN,
      }),
    );
    expect(Object.keys(trailers.getMap()).filter((k) => k.startsWith("rvss-"))).toEqual([]);
  });
});

async function waitUntil(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
