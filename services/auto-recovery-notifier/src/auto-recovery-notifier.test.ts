import { publishCommand, type Bus } from "@rvss/bus";
import { startServiceHarness, type EventRecorder, type ServiceHarness } from "@rvss/testkit";
import { startAutoRecoveryNotifier } from "./index";

let h: ServiceHarness;
let bus: Bus;
let events: EventRecorder;

beforeAll(async () => {
  h = await startServiceHarness(startAutoRecoveryNotifier);
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
});
