import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { checkShares, connectBus, publishCommand, type Bus } from "@rvss/bus";
import type { RunningService } from "@rvss/runtime";
import { EventRecorder, NatsServer, createSampleFiler, removeTree, testConfig, type SampleFiler } from "@rvss/testkit";
import { startShareDiscovery } from "./index";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let service: RunningService;
let bus: Bus;
let events: EventRecorder;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sd-"));
  filer = await createSampleFiler(dir);
  nats = await NatsServer.start();
  const config = testConfig(nats.url, filer.configPath);
  service = await startShareDiscovery(config, log);
  bus = await connectBus(config, "test", log);
  events = await EventRecorder.start(nats.url);
});

afterAll(async () => {
  await events.stop();
  await service.stop();
  await bus.close();
  await nats.dispose();
  await removeTree(dir);
});

let n = 0;
async function resolve(shares: { share: string; files: string[] }[], svm = "vs1") {
  const setId = `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
  await publishCommand(bus, "discovery", {
    context: { commandId: `${setId}:resolve:1`, svm, setId, backupId: "" },
    kind: { $case: "resolveShares", value: { shares: shares.map((s) => ({ svm, ...s })) } },
  });
  return (await events.waitFor((e) => e.event.setId === setId)).event;
}

describe("share-discovery", () => {
  test("resolves a share to its volume and path, keeping the file list", async () => {
    const e = await resolve([{ share: "share1", files: ["vm1/Virtual Machines/vm1.vmcx"] }]);
    expect(e.body).toEqual({
      $case: "sharesResolved",
      value: { shares: [{ share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir", junctionPath: "/hyperv/vm1", files: ["vm1/Virtual Machines/vm1.vmcx"] }] },
    });
    expect(e.source).toBe("share-discovery");
  });

  test("rejects with every violation named", async () => {
    await fsp.symlink("/etc/passwd", path.join(filer.shareDir, "vm1", "evil.vhdx"));
    const e = await resolve([
      { share: "share1", files: ["vm1/missing.vhdx", "../outside", "vm1/evil.vhdx", "vm1"] },
      { share: "nope", files: [] },
    ]);
    expect(e.body?.$case).toBe("sharesRejected");
    const v = e.body?.$case === "sharesRejected" ? e.body.value : null;
    expect(v?.violations.map((x) => [x.share, x.path, x.rule])).toEqual([
      ["share1", "../outside", "parent-segment"],
      ["share1", "vm1/missing.vhdx", "file-not-found"],
      ["share1", "vm1/evil.vhdx", "file-not-regular"],
      ["share1", "vm1", "file-not-regular"],
      ["nope", "", "share-not-found"],
    ]);
    expect(v?.reason).toMatch(/contains "\.\."[^]*and 4 more problems/);
  });

  test("an unknown SVM is named", async () => {
    const e = await resolve([{ share: "share1", files: [] }], "vs9");
    expect(e.body?.$case === "sharesRejected" && e.body.value.reason).toMatch(/SVM "vs9" is not defined/);
  });
});

describe("check-shares query", () => {
  test("answers at once for each share: where it lives, or what is wrong", async () => {
    const res = await checkShares(bus, { svm: "vs1", shares: [{ svm: "vs1", share: "share1", files: [] }, { svm: "vs1", share: "ghost", files: [] }] });
    expect(res.checks.map((c) => [c.share, c.found, c.resolved?.volume, c.violations.map((v) => v.rule)])).toEqual([
      ["share1", true, "vm_vol1", []],
      ["ghost", false, undefined, ["share-not-found"]],
    ]);
  });

  test("with no share-discovery running the caller is told so", async () => {
    await service.stop();
    await expect(checkShares(bus, { svm: "vs1", shares: [] }, 1000)).rejects.toThrow(/no share-discovery replica is running/);
    service = await startShareDiscovery(testConfig(nats.url, filer.configPath), log);
  });
});
