import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { isRvssError } from "@rvss/core";
import { PreflightClient } from "@rvss/client";
import { startShareDiscovery } from "@rvss/share-discovery";
import type { RunningService } from "@rvss/runtime";
import {
  createSampleFiler,
  removeTree,
  startServicesNats,
  testPki,
  type NatsServer,
  type SampleFiler,
} from "@rvss/testkit";
import { startCoordinator } from "./index";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let services: RunningService[] = [];
let client: PreflightClient;

/** The sample filer (vs1/share1 with vm1 and vm2) and a second SVM whose share "other" also holds a vm1. */
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-pf-"));
  filer = await createSampleFiler(dir);
  const config = JSON.parse(await fsp.readFile(filer.configPath, "utf8"));
  config.svms.push({
    name: "vs2",
    volumes: [{ name: "v2", junctionPath: "/v2" }],
    shares: [{ name: "other", path: "/v2" }],
  });
  await fsp.writeFile(filer.configPath, JSON.stringify(config));
  await fsp.mkdir(path.join(filer.root, "vs2", "v2", "vm1"), { recursive: true });
  await fsp.writeFile(path.join(filer.root, "vs2", "v2", "vm1", "vm1-data.vhdx"), "data");
  const secure = await startServicesNats(filer.configPath, {}, dir);
  nats = secure.nats;
  const coordinator = await startCoordinator(secure.config("coordinator"), log);
  services = [coordinator, await startShareDiscovery(secure.config("share-discovery"), log)];
  client = new PreflightClient({
    address: `127.0.0.1:${coordinator.grpcPort}`,
    auth: testPki().clientAuth("viewer"),
  });
});

afterAll(async () => {
  client.close();
  for (const s of services) await s.stop();
  await nats.dispose();
  await removeTree(dir);
});

describe("PreflightService", () => {
  test("ValidateShare: a clean share, where it lives and what the walk saw", async () => {
    const c = await client.validateShare({ svm: "vs1", share: "share1", files: [filer.files[0]!] });
    expect(c).toEqual(
      expect.objectContaining({
        svm: "vs1",
        share: "share1",
        found: true,
        violations: [],
        resolved: {
          share: "share1",
          volume: "vm_vol1",
          sharePath: "dir1/vmdir",
          junctionPath: "/hyperv/vm1",
          files: [filer.files[0]],
        },
        layout: { files: 5, directories: 6, others: 0, deepestFile: 2, depthLimit: 5 },
      }),
    );
  });

  test("ValidateShare: layout and file-list violations are all named; nothing is cloned", async () => {
    await fsp.writeFile(path.join(filer.shareDir, "notes.txt"), "x");
    await fsp.symlink("/etc", path.join(filer.shareDir, "vm2", "etc"));
    try {
      const c = await client.validateShare({
        svm: "vs1",
        share: "share1",
        files: ["../../../etc/passwd", "vm2/etc/passwd"],
      });
      expect(c.violations.map((v) => [v.path, v.rule])).toEqual([
        ["../../../etc/passwd", "parent-segment"],
        ["vm2/etc/passwd", "file-escapes-share"],
        ["notes.txt", "stray-at-root"],
        ["vm2/etc", "not-regular"],
      ]);
      expect(await fsp.readdir(path.join(filer.root, "vs1", "vm_vol1"))).toEqual(["dir1"]);
    } finally {
      await fsp.rm(path.join(filer.shareDir, "notes.txt"));
      await fsp.rm(path.join(filer.shareDir, "vm2", "etc"));
    }
  });

  test("ValidateShare: an unknown share is an answer, not an error", async () => {
    const c = await client.validateShare({ svm: "vs1", share: "ghost", files: [] });
    expect([c.found, c.violations.map((v) => v.message)]).toEqual([
      false,
      ['share "ghost" does not exist on SVM "vs1" (known: share1)'],
    ]);
  });

  test("ValidateDataset: a VM with files on two SVMs is named in both checks, in dataset order", async () => {
    const checks = await client.validateDataset([
      { svm: "vs2", share: "other", files: [] },
      { svm: "vs1", share: "share1", files: [] },
    ]);
    expect(checks.map((c) => [c.svm, c.share, c.violations.map((v) => [v.path, v.rule, v.message])])).toEqual([
      [
        "vs2",
        "other",
        [
          [
            "vm1",
            "vm-split-across-shares",
            'VM "vm1" has files in 2 shares (vs2/other, vs1/share1); all files of one VM must be in one share',
          ],
        ],
      ],
      [
        "vs1",
        "share1",
        [
          [
            "vm1",
            "vm-split-across-shares",
            'VM "vm1" has files in 2 shares (vs2/other, vs1/share1); all files of one VM must be in one share',
          ],
        ],
      ],
    ]);
    const named = await client.validateDataset([
      { svm: "vs2", share: "other", files: [], vms: [{ name: "reporting", files: ["vm1/vm1-data.vhdx"] }] },
      { svm: "vs1", share: "share1", files: [] },
    ]);
    expect(named.flatMap((c) => c.violations)).toEqual([]);
  });

  test("a dataset that names no share is bad usage", async () => {
    const err = await client.validateDataset([]).catch((e: unknown) => e);
    expect(isRvssError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toMatch(/the dataset is empty/);
  });
});
