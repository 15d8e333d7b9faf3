/**
 * MS-FSRVP message sequence timers (short configured values) and restarts, with the services as
 * processes: timers are durable, fire once, and a coordinator may die between any two calls.
 */
import { AgentClient } from "@rvss/client";
import { EventRecorder, freePort, startService, testPki, type ServiceProcess } from "@rvss/testkit";
import { CLIENT_SET_ID, HRESULT, driveTo, expectHResult, startFsrvpSystem, unc, type FsrvpSystem } from "./system";

const SHORT = 1500;
const LONG = 3000;
const SVMS = Array.from({ length: 20 }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(50);
  }
}

describe("with short timers", () => {
  let sys: FsrvpSystem;
  let events: EventRecorder;
  let used = 0;
  const fresh = () => sys.client(SVMS[used++]!);

  beforeAll(async () => {
    sys = await startFsrvpSystem(SVMS, {
      RVSS_FSRVP_SHORT_TIMEOUT_MS: String(SHORT),
      RVSS_FSRVP_LONG_TIMEOUT_MS: String(LONG),
    });
    events = await EventRecorder.start(sys.nats.url, sys.users);
  });
  afterAll(async () => {
    await events.stop();
    await sys.stop();
  });

  test("rows 61 and 68: after SetContext the configured short timer expires; StartShadowCopySet is then FSRVP_E_BAD_STATE", async () => {
    const c = await fresh();
    await c.setContext(0);
    await sleep(SHORT + 700);
    await expectHResult(c.startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_BAD_STATE);
  });

  test.each([
    ["Start", SHORT],
    ["Add", LONG],
  ] as const)(
    "row 62: the timer armed by %s expires; the set is deleted and the next call is FSRVP_E_SHADOWCOPYSET_ID_MISMATCH",
    async (after, ms) => {
      const c = await fresh();
      const { setId } = await driveTo(c, after === "Start" ? "Started" : "Added");
      await sleep(ms + 700);
      await expectHResult(c.prepareShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    },
  );

  test("row 62: the timer re-armed by Prepare (1800 s, here long) expires too", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Added");
    await c.prepareShadowCopySet(setId);
    await sleep(LONG + 700);
    await expectHResult(c.commitShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  });

  test("rows 62-63: the timer after Commit deletes the set and its copies on disk (Samba leaves them)", async () => {
    const c = await fresh();
    const { setId } = await driveTo(c, "Committed");
    expect((await sys.backend.listShadowCopies(c.svm)).length).toBe(1);
    await sleep(SHORT + 700);
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    await waitUntil(async () => (await sys.backend.listShadowCopies(c.svm)).length === 0);
  });

  test("row 64: an Exposed set without RecoveryComplete is deleted when the timer after Expose expires, share and copy too", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Exposed");
    await sleep(SHORT + 700);
    await expectHResult(
      c.getShareMapping(copyId, setId, unc(c.svm, "share1")),
      HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH,
    );
    await waitUntil(
      async () =>
        (await sys.backend.listExposedShares(c.svm)).length === 0 &&
        (await sys.backend.listShadowCopies(c.svm)).length === 0,
    );
    const aborted = events.of(setId).filter((e) => e.event.body?.$case === "setAborted");
    expect(aborted.map((e) => e.event.body?.$case === "setAborted" && e.event.body.value.code)).toEqual(["TIMEOUT"]);
  });

  test("a Recovered set outlives the timer", async () => {
    const c = await fresh();
    const { setId, copyId } = await driveTo(c, "Recovered");
    await sleep(SHORT + 700);
    await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
  });

  test("a timer armed through one coordinator fires on another after the first was killed (-9), exactly once", async () => {
    const port = await freePort();
    const second: ServiceProcess = await startService("coordinator", {
      ...sys.env,
      ...sys.users.env("coordinator"),
      RVSS_GRPC_ADDR: `127.0.0.1:${port}`,
    });
    try {
      const c = await fresh();
      const { setId } = await driveTo(c, "Added");
      await sys.rvss.services.coordinator.kill();
      const b = new AgentClient(`127.0.0.1:${port}`, c.svm, testPki().clientAuth("backup-operator"));
      await sleep(LONG + 1000);
      await expectHResult(b.prepareShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
      await waitUntil(async () => events.of(setId).some((e) => e.event.body?.$case === "setAborted"));
      await sleep(500);
      expect(events.of(setId).filter((e) => e.event.body?.$case === "setAborted").length).toBe(1);
      b.close();
    } finally {
      await second.stop();
      sys.rvss.services.coordinator = await startService("coordinator", {
        ...sys.env,
        ...sys.users.env("coordinator"),
      });
    }
  });
});

describe("row 68: a timeout of 0 disables the timers", () => {
  let sys: FsrvpSystem;
  beforeAll(async () => {
    sys = await startFsrvpSystem(["z1"], { RVSS_FSRVP_SHORT_TIMEOUT_MS: "0", RVSS_FSRVP_LONG_TIMEOUT_MS: "0" });
  });
  afterAll(async () => {
    await sys.stop();
  });

  test("row 68: with timers at 0, a set waits for its client however long it takes", async () => {
    const c = await sys.client("z1");
    const { setId } = await driveTo(c, "Started");
    await sleep(1500);
    await c.addToShadowCopySet(setId, unc("z1", "share1"));
  });
});

describe("restarts", () => {
  let sys: FsrvpSystem;
  let used = 0;
  beforeAll(async () => {
    sys = await startFsrvpSystem(SVMS);
  });
  afterAll(async () => {
    await sys.stop();
  });

  async function restartCoordinator(): Promise<void> {
    await sys.rvss.services.coordinator.kill();
    sys.rvss.services.coordinator = await startService("coordinator", { ...sys.env, ...sys.users.env("coordinator") });
  }

  test.each(["Started", "Added", "Committed", "Exposed", "Recovered"] as const)(
    "rows 65, 66 and 69: a coordinator killed with a set %s restarts and the sequence continues",
    async (state) => {
      const c = await sys.client(SVMS[used++]!);
      const { setId, copyId } = await driveTo(c, state);
      await restartCoordinator();
      const rest: Record<typeof state, () => Promise<unknown>> = {
        Started: async () => {
          const { shadowCopyId } = await c.addToShadowCopySet(setId, unc(c.svm, "share1"));
          await c.commitShadowCopySet(setId);
          await c.exposeShadowCopySet(setId);
          await c.recoveryCompleteShadowCopySet(setId);
          await c.deleteShareMapping(setId, shadowCopyId, unc(c.svm, "share1"));
        },
        Added: async () => {
          await c.commitShadowCopySet(setId);
          await c.exposeShadowCopySet(setId);
          await c.recoveryCompleteShadowCopySet(setId);
          await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
        },
        Committed: async () => {
          await c.exposeShadowCopySet(setId);
          await c.recoveryCompleteShadowCopySet(setId);
          await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
        },
        Exposed: async () => {
          expect((await c.getShareMapping(copyId, setId, unc(c.svm, "share1"))).shareMapping?.shadowCopyId).toBe(
            copyId,
          );
          await c.recoveryCompleteShadowCopySet(setId);
          await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
        },
        Recovered: async () => {
          await expectHResult(c.startShadowCopySet(CLIENT_SET_ID), HRESULT.FSRVP_E_BAD_STATE);
          await c.deleteShareMapping(setId, copyId, unc(c.svm, "share1"));
        },
      };
      await rest[state]();
      expect(await sys.backend.listShadowCopies(c.svm)).toEqual([]);
    },
  );
});
