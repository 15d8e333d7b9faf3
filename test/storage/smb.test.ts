/**
 * Exposure through a real Samba: a private smbd with registry shares serves the SVM's shares, and
 * every step is checked with smbclient: the exposed copy takes writes, turns read-only for new and
 * existing connections at the seal, and is gone after delete.
 */
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { LocalBackend, parseFilerConfig } from "@rvss/storage";
import {
  removeTree,
  rvssFailure,
  sampleBytes,
  smbdUnavailable,
  startSmbd,
  writableEntries,
  type Smbd,
} from "@rvss/testkit";

const why = smbdUnavailable();
if (why) console.warn(`skipping the Samba tests: ${why}`);
const describeRoot = why ? describe.skip : describe;

const SC = "6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f";
const EXPOSED = `share1@{${SC}}`;
const DISK = "vm1/vm1.vhdx";

describeRoot("Samba registry shares", () => {
  let dir: string;
  let smbd: Smbd;
  let backend: LocalBackend;
  let local: string;
  const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "vms" };
  const ref = { svm: "vs1", volume: "vm_vol1", shadowCopyId: SC };

  function filer(sambaConfig: string): LocalBackend {
    const file = path.join(dir, "filer.json");
    const text = JSON.stringify({
      root: "filer",
      svms: [
        {
          name: "vs1",
          volumes: [{ name: "vm_vol1", junctionPath: "/vol1" }],
          shares: [{ name: "share1", path: "/vol1/vms" }],
          samba: { config: sambaConfig },
        },
      ],
    });
    return new LocalBackend(parseFilerConfig(text, file), file);
  }

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-smb-"));
    const shareDir = path.join(dir, "filer", "vs1", "vm_vol1", "vms");
    await fsp.mkdir(path.join(shareDir, "vm1"), { recursive: true });
    await fsp.writeFile(path.join(shareDir, DISK), sampleBytes(DISK, 1024 * 1024));
    local = path.join(dir, "recovery.log");
    await fsp.writeFile(local, "written by the writer over SMB");
    smbd = await startSmbd(path.join(dir, "samba"));
    // The SVM's base share, as its administrator set it up; its parameters carry over to the copies.
    await smbd.addShare("share1", shareDir, { "force user": "root", "create mask": "0640" });
    backend = filer(smbd.config);
  });

  afterAll(async () => {
    await smbd?.stop();
    await removeTree(dir);
  });

  test("exposed: a file written over SMB lands in the copy; sealed: refused on a new connection, the old one closed; deleted: gone", async () => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [DISK], writable: true });
    const { accessPath } = await backend.exposeShadowCopy({
      ...ref,
      baseShare: "share1",
      exposedName: EXPOSED,
      writable: true,
    });
    const shown = execFileSync("net", ["-s", smbd.config, "conf", "showshare", EXPOSED], { encoding: "utf8" });
    expect(shown).toMatch(/force user = root/);
    expect(shown).toMatch(new RegExp(`path = ${accessPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));

    const listed = await smbd.smbclient(EXPOSED, "ls vm1/*");
    expect(listed.output).toMatch(/vm1\.vhdx\s+[A-Z]*\s+1048576/);
    const open = await smbd.openSession(EXPOSED);
    try {
      expect(await open.run(`put ${local} vm1/early.log`)).toMatch(/putting file .* as \\vm1\\early.log/);
      const put = await smbd.smbclient(EXPOSED, `put ${local} vm1/recovery.log`);
      expect(put).toEqual(expect.objectContaining({ ok: true }));
      expect(await fsp.readFile(path.join(accessPath, "vm1/recovery.log"), "utf8")).toBe(
        "written by the writer over SMB",
      );

      await backend.sealShadowCopy(ref);
      const late = await smbd.smbclient(EXPOSED, `put ${local} vm1/late.log`);
      expect(late.output).toMatch(/NT_STATUS_ACCESS_DENIED/);
      expect((await smbd.smbclient(EXPOSED, "get vm1/recovery.log /dev/null")).ok).toBe(true);
      expect(await open.run(`put ${local} vm1/after-seal.log`)).toMatch(
        /NT_STATUS_NETWORK_NAME_DELETED|NT_STATUS_CONNECTION/,
      );
      expect(await writableEntries(accessPath)).toEqual([]);
    } finally {
      await open.close();
    }

    await backend.deleteShadowCopy(ref);
    expect((await smbd.smbclient(EXPOSED, "ls")).output).toMatch(/NT_STATUS_BAD_NETWORK_NAME/);
    expect(execFileSync("net", ["-s", smbd.config, "conf", "listshares"], { encoding: "utf8" })).not.toMatch(/@\{/);
    expect(await backend.listExposedShares("vs1")).toEqual([]);
  });

  test.each([
    [`${"s".repeat(42)}@{${SC}}`, /has 81 characters; SMB allows at most 80/],
    [`bad:share@{${SC}}`, /contains ":", which SMB share names may not hold/],
    [`bad%share@{${SC}}`, /contains "%"/],
  ])("%s is refused naming it, before Samba sees it, and nothing is left", async (name, message) => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [DISK], writable: true });
    try {
      const e = await rvssFailure(
        backend.exposeShadowCopy({ ...ref, baseShare: "share1", exposedName: name, writable: true }),
      );
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain(`share name "${name}"`);
      expect(e.message).toMatch(message);
      expect(await backend.listExposedShares("vs1")).toEqual([]);
      expect(execFileSync("net", ["-s", smbd.config, "conf", "listshares"], { encoding: "utf8" })).not.toMatch(/@\{/);
    } finally {
      await backend.deleteShadowCopy(ref);
    }
  });

  test("with Samba not running, Expose fails with Samba's own message and leaves nothing behind", async () => {
    // The same registry, but a pid directory no smbd runs from.
    const stopped = path.join(dir, "stopped.conf");
    const conf = (await fsp.readFile(smbd.config, "utf8")).replace(
      /pid directory = .*/,
      `pid directory = ${dir}/nopid`,
    );
    await fsp.writeFile(stopped, conf);
    const down = filer(stopped);
    await down.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [DISK], writable: true });
    try {
      const e = await rvssFailure(
        down.exposeShadowCopy({ ...ref, baseShare: "share1", exposedName: EXPOSED, writable: true }),
      );
      expect(e.code).toBe("STORAGE_FAILED");
      expect(e.message).toMatch(/Samba \(.*stopped\.conf\): smbcontrol smbd ping .* failed: .*smbd/);
      expect(await down.listExposedShares("vs1")).toEqual([]);
      expect(execFileSync("net", ["-s", smbd.config, "conf", "listshares"], { encoding: "utf8" })).not.toMatch(/@\{/);
    } finally {
      await down.deleteShadowCopy(ref);
    }
  });
});
