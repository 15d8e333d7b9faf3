import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { checkShares, publishCommand, type Bus } from "@rvss/bus";
import type { ShareSelection, VmFiles } from "@rvss/proto";
import {
  createSampleFiler,
  removeTree,
  startServiceHarness,
  type EventRecorder,
  type SampleFiler,
  type ServiceHarness,
} from "@rvss/testkit";
import { startShareDiscovery } from "./index";

let dir: string;
let filer: SampleFiler;
let h: ServiceHarness;
let bus: Bus;
let events: EventRecorder;

/**
 * The sample filer (vs1/share1 with vm1 and vm2), plus shares that each hold one layout to check:
 * vs1 (depth 5) has share2 next to share1, "junction" above the volume "nested", "inner" inside
 * "nested", and "layout"; vs2 has depth 2 ("shallow"), vs3 depth 0 = unlimited ("unlimited").
 */
const EXTRA = {
  vs1: {
    volumes: [{ name: "nested", junctionPath: "/hyperv/vm1/dir3/mnt" }],
    shares: {
      share2: "/hyperv/vm1/dir2",
      junction: "/hyperv/vm1/dir3",
      inner: "/hyperv/vm1/dir3/mnt/vms",
      layout: "/hyperv/vm1/dir4",
    },
  },
};

function shareDir(svm: string, volume: string, rel: string): string {
  return path.join(filer.root, svm, volume, rel);
}

async function files(root: string, rels: string[]): Promise<void> {
  for (const rel of rels) {
    await fsp.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fsp.writeFile(path.join(root, rel), rel);
  }
}

async function emptyDir(root: string): Promise<void> {
  await fsp.rm(root, { recursive: true });
  await fsp.mkdir(root);
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sd-"));
  filer = await createSampleFiler(dir);
  const config = JSON.parse(await fsp.readFile(filer.configPath, "utf8"));
  const vs1 = config.svms[0];
  vs1.volumes.push(...EXTRA.vs1.volumes);
  vs1.shares.push(...Object.entries(EXTRA.vs1.shares).map(([name, p]) => ({ name, path: p })));
  config.svms.push(
    {
      name: "vs2",
      shadowCopyDirDepth: 2,
      volumes: [{ name: "v2", junctionPath: "/v2" }],
      shares: [{ name: "shallow", path: "/v2" }],
    },
    {
      name: "vs3",
      shadowCopyDirDepth: 0,
      volumes: [{ name: "v3", junctionPath: "/v3" }],
      shares: [{ name: "unlimited", path: "/v3" }],
    },
  );
  await fsp.writeFile(filer.configPath, JSON.stringify(config));
  for (const d of ["dir2", "dir3", "dir4"]) await fsp.mkdir(shareDir("vs1", "vm_vol1", d), { recursive: true });
  await fsp.mkdir(shareDir("vs1", "nested", "vms"), { recursive: true });
  await fsp.mkdir(shareDir("vs2", "v2", ""), { recursive: true });
  await fsp.mkdir(shareDir("vs3", "v3", ""), { recursive: true });

  h = await startServiceHarness(startShareDiscovery, "share-discovery", filer.configPath);
  ({ bus, events } = h);
});

afterAll(async () => {
  await h.stop();
  await removeTree(dir);
});

const sel = (svm: string, share: string, files: string[] = [], vms: VmFiles[] = []): ShareSelection => ({
  svm,
  share,
  files,
  vms,
});

let n = 0;
async function resolve(shares: ShareSelection[], svm = "vs1") {
  const setId = `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
  await publishCommand(bus, "discovery", {
    context: { commandId: `${setId}:resolve:1`, svm, setId, backupId: "" },
    kind: { $case: "resolveShares", value: { shares } },
  });
  return (await events.waitFor((e) => e.event.setId === setId)).event;
}

async function check(svm: string, share: string, listed: string[] = []) {
  const res = await checkShares(bus, { svm, shares: [sel(svm, share, listed)] });
  return res.checks[0]!;
}

const rules = (c: { violations: { path: string; rule: string }[] }) => c.violations.map((v) => [v.path, v.rule]);

describe("share-discovery", () => {
  test("resolves a share to its volume and path, keeping the file list", async () => {
    const e = await resolve([sel("vs1", "share1", ["vm1/Virtual Machines/vm1.vmcx"])]);
    expect(e.body).toEqual({
      $case: "sharesResolved",
      value: {
        shares: [
          {
            share: "share1",
            volume: "vm_vol1",
            sharePath: "dir1/vmdir",
            junctionPath: "/hyperv/vm1",
            files: ["vm1/Virtual Machines/vm1.vmcx"],
          },
        ],
      },
    });
    expect(e.source).toBe("share-discovery");
  });

  test("rejects with every violation of the file list and the layout named", async () => {
    const evil = path.join(filer.shareDir, "vm1", "evil.vhdx");
    await fsp.symlink("/etc/passwd", evil);
    await fsp.symlink("/etc", path.join(filer.shareDir, "vm2", "etc"));
    try {
      const e = await resolve([
        sel("vs1", "share1", [
          "vm1/missing.vhdx",
          "../outside",
          "/etc/passwd",
          "vm1/\0x",
          "vm1/evil.vhdx",
          "vm2/etc/passwd",
          "vm1",
          "vm2/Virtual Machines/vm2.vmcx",
          "./vm2/Virtual Machines/vm2.vmcx",
        ]),
        sel("vs1", "nope"),
      ]);
      expect(e.body?.$case).toBe("sharesRejected");
      const v = e.body?.$case === "sharesRejected" ? e.body.value : null;
      expect(v?.violations.map((x) => [x.share, x.path, x.rule])).toEqual([
        ["share1", "../outside", "parent-segment"],
        ["share1", "/etc/passwd", "absolute-path"],
        ["share1", "vm1/\0x", "nul-byte"],
        ["share1", "./vm2/Virtual Machines/vm2.vmcx", "duplicate"],
        ["share1", "vm1/missing.vhdx", "file-not-found"],
        ["share1", "vm1/evil.vhdx", "file-not-regular"],
        ["share1", "vm2/etc/passwd", "file-escapes-share"],
        ["share1", "vm1", "file-not-regular"],
        ["share1", "vm1/evil.vhdx", "not-regular"],
        ["share1", "vm2/etc", "not-regular"],
        ["nope", "", "share-not-found"],
      ]);
      expect(v?.reason).toMatch(/contains "\.\."[^]*and 10 more problems/);
    } finally {
      await fsp.rm(evil);
      await fsp.rm(path.join(filer.shareDir, "vm2", "etc"));
    }
  });

  test("an unknown SVM is named", async () => {
    const e = await resolve([sel("vs1", "share1")], "vs9");
    expect(e.body?.$case === "sharesRejected" && e.body.value.reason).toMatch(/SVM "vs9" is not defined/);
  });

  test("one VM split across two shares of a set is named in both; VMs named in the request decide", async () => {
    await files(shareDir("vs1", "vm_vol1", "dir2"), ["vm1/Virtual Hard Disks/data.vhdx", "vm3/vm3.vhdx"]);
    const e = await resolve([sel("vs1", "share1"), sel("vs1", "share2")]);
    const v = e.body?.$case === "sharesRejected" ? e.body.value : null;
    expect(v?.violations.map((x) => [x.share, x.path, x.rule])).toEqual([
      ["share1", "vm1", "vm-split-across-shares"],
      ["share2", "vm1", "vm-split-across-shares"],
    ]);
    expect(v?.reason).toBe(
      'VM "vm1" has files in 2 shares (vs1/share1, vs1/share2); all files of one VM must be in one share (and 1 more problem)',
    );

    const named = await resolve([
      sel("vs1", "share1", [], [{ name: "web", files: ["vm1/Virtual Hard Disks/vm1.vhdx"] }]),
      sel("vs1", "share2", [], [{ name: "db", files: ["vm1/Virtual Hard Disks/data.vhdx"] }]),
    ]);
    expect(named.body?.$case === "sharesResolved" && named.body.value.shares.map((s) => s.files)).toEqual([
      ["vm1/Virtual Hard Disks/vm1.vhdx"],
      ["vm1/Virtual Hard Disks/data.vhdx"],
    ]);
  });
});

describe("layout rules on real trees (check-shares query)", () => {
  test("a clean share: what the walk saw, and its VMs", async () => {
    const c = await check("vs1", "share1");
    expect(c).toEqual(
      expect.objectContaining({
        svm: "vs1",
        found: true,
        violations: [],
        violationsNotListed: 0,
        vms: [
          { name: "vm1", path: "vm1" },
          { name: "vm2", path: "vm2" },
        ],
        layout: { files: 5, directories: 6, others: 0, deepestFile: 2, depthLimit: 5 },
        // What the volume's filesystem gives: the test directory is on this machine's disk.
        storage: expect.objectContaining({
          filesystem: expect.any(String),
          cow: expect.stringMatching(/^(btrfs|reflink|none)$/),
        }),
      }),
    );
  });

  test("rule 1: a symlink to a file, a symlink to a directory (not followed), a FIFO", async () => {
    const root = shareDir("vs1", "vm_vol1", "dir4");
    await files(root, ["vm1/vm1.vhdx"]);
    await fsp.symlink("/etc/hostname", path.join(root, "vm1", "file-link.vhdx"));
    await fsp.symlink("/etc", path.join(root, "vm1", "dir-link"));
    execFileSync("mkfifo", [path.join(root, "vm1", "pipe.vhdx")]);
    try {
      const c = await check("vs1", "layout");
      expect(rules(c)).toEqual([
        ["vm1/dir-link", "not-regular"],
        ["vm1/file-link.vhdx", "not-regular"],
        ["vm1/pipe.vhdx", "not-regular"],
      ]);
      expect(c.violations.find((v) => v.path === "vm1/pipe.vhdx")?.message).toBe(
        '"vm1/pipe.vhdx" in share "layout" is a FIFO; a Remote VSS share may hold only directories and regular files',
      );
      expect(c.layout).toEqual(expect.objectContaining({ files: 1, others: 3 }));
    } finally {
      await emptyDir(root);
    }
  });

  test("rule 1: a volume junction below the share; a share inside the other volume resolves to it", async () => {
    const c = await check("vs1", "junction");
    expect(c.violations).toEqual([
      {
        svm: "vs1",
        share: "junction",
        path: "mnt",
        rule: "junction-below-share",
        message: '"mnt" in share "junction" is a volume junction; Remote VSS cannot copy across volumes',
      },
    ]);
    const inner = await check("vs1", "inner");
    expect([inner.resolved?.volume, inner.resolved?.sharePath, inner.resolved?.junctionPath, inner.violations]).toEqual(
      ["nested", "vms", "/hyperv/vm1/dir3/mnt", []],
    );
  });

  test("rule 3: depth exactly at the SVM's limit is fine, one past is named; limit 0 is unlimited", async () => {
    const shallow = shareDir("vs2", "v2", "");
    await files(shallow, ["vmA/Virtual Hard Disks/a.vhdx"]);
    expect(rules(await check("vs2", "shallow"))).toEqual([]);
    await files(shallow, ["vmB/Virtual Hard Disks/old/b.vhdx"]);
    const c = await check("vs2", "shallow");
    expect(c.violations.map((v) => [v.path, v.rule, v.message])).toEqual([
      [
        "vmB/Virtual Hard Disks/old",
        "too-deep",
        'directory "vmB/Virtual Hard Disks/old" in share "shallow" is nested 3 levels deep; SVM "vs2" copies at most 2 (shadow copy directory depth)',
      ],
    ]);
    expect(c.layout).toEqual(expect.objectContaining({ deepestFile: 3, depthLimit: 2 }));

    await files(shareDir("vs3", "v3", ""), ["vm1/a/b/c/d/e/f/g/disk.vhdx"]);
    expect(await check("vs3", "unlimited")).toEqual(
      expect.objectContaining({ violations: [], layout: expect.objectContaining({ deepestFile: 8, depthLimit: 0 }) }),
    );
  });

  test("rule 4: stray files at the share root are named; VM files and listed files are not", async () => {
    const root = shareDir("vs1", "vm_vol1", "dir4");
    await files(root, ["notes.txt", "Thumbs.db", "vm9.vhdx", "vm9.vmcx", "readme.txt", "vm1/notes.txt"]);
    try {
      const c = await check("vs1", "layout", ["readme.txt"]);
      expect(rules(c)).toEqual([
        ["Thumbs.db", "stray-at-root"],
        ["notes.txt", "stray-at-root"],
      ]);
    } finally {
      await emptyDir(root);
    }
  });
});

describe("a share with more violations than an answer lists", () => {
  test("the first 1000 are listed, the rest counted, in the query answer and in the rejection", async () => {
    const root = shareDir("vs1", "vm_vol1", "dir4");
    await files(
      root,
      Array.from({ length: 1005 }, (_, i) => `stray-${String(i).padStart(4, "0")}.txt`),
    );
    try {
      const c = await check("vs1", "layout");
      expect([c.violations.length, c.violationsNotListed, c.violations[0]!.path]).toEqual([
        1000,
        5,
        expect.stringMatching(/^stray-\d{4}\.txt$/),
      ]);
      const e = await resolve([sel("vs1", "layout")]);
      const v = e.body?.$case === "sharesRejected" ? e.body.value : null;
      expect([v?.violations.length, v?.reason]).toEqual([
        1000,
        expect.stringMatching(
          /^"stray-\d+\.txt" in the root of share "layout" is not a VM file.* \(and 1004 more problems\)$/,
        ),
      ]);
    } finally {
      await emptyDir(root);
    }
  });
});

describe("check-shares query", () => {
  test("answers at once for each share: where it lives, or what is wrong", async () => {
    const res = await checkShares(bus, { svm: "vs1", shares: [sel("vs1", "share1"), sel("vs1", "ghost")] });
    expect(res.checks.map((c) => [c.share, c.found, c.resolved?.volume, c.violations.map((v) => v.rule)])).toEqual([
      ["share1", true, "vm_vol1", []],
      ["ghost", false, undefined, ["share-not-found"]],
    ]);
  });

  test("with no share-discovery running the caller is told so", async () => {
    await h.service.stop();
    await expect(checkShares(bus, { svm: "vs1", shares: [] }, 1000)).rejects.toThrow(
      /no share-discovery replica is running/,
    );
    await h.startService();
  });
});
