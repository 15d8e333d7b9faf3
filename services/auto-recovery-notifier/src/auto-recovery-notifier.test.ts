import { Kvm } from "@nats-io/kv";
import { publishCommand, type Bus } from "@rvss/bus";
import { WRITERS_BUCKET, writerKey } from "@rvss/core";
import { WriterRegistration } from "@rvss/proto";
import { startServiceHarness, type EventRecorder, type ServiceHarness } from "@rvss/testkit";
import { startAutoRecoveryNotifier } from "./index";

let h: ServiceHarness;
let bus: Bus;
let events: EventRecorder;

beforeAll(async () => {
  h = await startServiceHarness(startAutoRecoveryNotifier, "auto-recovery-notifier");
  ({ bus, events } = h);
});

afterAll(async () => {
  await h.stop();
});

describe("auto-recovery-notifier", () => {
  test("with no writer registered it records that and lets the set proceed", async () => {
    const setId = "00000000-0000-4000-8000-0000000000b1";
    await publishCommand(bus, "notifier", {
      context: { commandId: `${setId}:checkpoint:1`, svm: "vs1", setId, backupId: "b" },
      kind: { $case: "checkpointWriters", value: { shares: [{ svm: "vs1", share: "share1", files: [], vms: [] }] } },
    });
    await publishCommand(bus, "notifier", {
      context: { commandId: `${setId}:recover:1`, svm: "vs1", setId, backupId: "b" },
      kind: {
        $case: "autoRecoverWriters",
        value: {
          shadowCopies: [
            {
              shadowCopyId: "c",
              share: "share1",
              volume: "v",
              sharePath: "",
              files: [],
              exposedName: "share1@{c}",
              writable: true,
              clonePath: "",
              accessPath: "",
              bytes: 0n,
              fileCount: 0,
            },
          ],
          writerIds: [],
        },
      },
    });
    const checkpointed = await events.waitFor((e) => e.event.body?.$case === "writersCheckpointed");
    const recovered = await events.waitFor((e) => e.event.body?.$case === "writersRecovered");
    expect(checkpointed.event.body).toEqual({
      $case: "writersCheckpointed",
      value: { writers: [], sharesWithoutWriters: ["share1"] },
    });
    expect(recovered.event.body).toEqual({
      $case: "writersRecovered",
      value: { writers: [], sharesWithoutWriters: ["share1"] },
    });
    expect(checkpointed.subject).toBe(`rvss.v1.evt.vs1.${setId}.writers_checkpointed`);
  });

  test("a writer counts for the share its key names, whatever its registration claims", async () => {
    // Under a key for share2 (all its NATS user may be granted), a body that claims share1 too.
    // First, a body that does not decode: it counts for nothing, and the notifier reads on.
    const kv = await new Kvm(bus.js).open(WRITERS_BUCKET);
    await kv.put(writerKey("w9", "vs1", "share3"), new Uint8Array([0xff, 0xff, 0xff]));
    const claim = (shares: string[]) =>
      WriterRegistration.encode({
        writerId: "w9",
        name: "greedy",
        svm: "vs1",
        shares: shares.map((share) => ({ share, files: [] })),
        heartbeatMs: 60_000,
        registeredAt: new Date(),
        checkpointTimeoutMs: 200,
        autoRecoverTimeoutMs: 200,
      }).finish();
    await kv.put(writerKey("w9", "vs1", "share2"), claim(["share1", "share2"]));
    // A key whose body names another SVM counts for nothing.
    await kv.put(writerKey("w9", "vs2", "share1"), claim(["share1"]));
    const checkpoint = async (setId: string, share: string) => {
      await publishCommand(bus, "notifier", {
        context: { commandId: `${setId}:checkpoint:1`, svm: "vs1", setId, backupId: "b" },
        kind: { $case: "checkpointWriters", value: { shares: [{ svm: "vs1", share, files: [], vms: [] }] } },
      });
      const e = await events.waitFor(
        (x) => x.event.setId === setId && x.event.body?.$case === "writersCheckpointed",
        10_000,
      );
      return e.event.body?.$case === "writersCheckpointed" ? e.event.body.value : null;
    };
    try {
      expect(await checkpoint("00000000-0000-4000-8000-0000000000b2", "share1")).toEqual({
        writers: [],
        sharesWithoutWriters: ["share1"],
      });
      // For share2 it is asked (and, answering nothing, fails with the reason).
      const two = await checkpoint("00000000-0000-4000-8000-0000000000b3", "share2");
      expect(two?.writers.map((w) => [w.writerId, w.ok, w.reason])).toEqual([
        ["w9", false, "the writer is not reachable (it stopped or lost its connection)"],
      ]);
    } finally {
      await kv.delete(writerKey("w9", "vs1", "share2"));
      await kv.delete(writerKey("w9", "vs2", "share1"));
      await kv.delete(writerKey("w9", "vs1", "share3"));
    }
  });
});
