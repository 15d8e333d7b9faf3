import { VerificationState, type Verification } from "@rvss/proto";
import { restoreVerification, restoredFileLine, verificationText } from "./format";

const summed = { path: "vm1/disk.vhdx", bytes: 4n * 1024n * 1024n, sha256: "89bafebbd4a87368".padEnd(64, "0") };
const sized = { path: "vm1/conf.vmcx", bytes: 65536n, sha256: "" };

describe("what a restore says it verified", () => {
  test.each([
    ["a local restore (every file checksummed)", [summed, summed], "every checksum verified"],
    ["an ONTAP restore (sizes only)", [sized, sized], "sizes verified (the storage computes no checksums)"],
    ["a mix", [summed, sized, sized], "1 checksum(s) verified, 2 file(s) by size only"],
  ])("%s", (_, files, said) => {
    expect(restoreVerification(files)).toBe(said);
  });

  test("each file line says whether its checksum or only its size was checked", () => {
    expect(restoredFileLine(summed)).toBe("  vm1/disk.vhdx  4.0 MiB  sha256 89bafebbd4a87368…  verified");
    expect(restoredFileLine(sized)).toBe("  vm1/conf.vmcx  64.0 KiB  size verified, no checksum");
  });
});

const v = (state: VerificationState, more: Partial<Verification> = {}): Verification => ({
  state,
  reason: "",
  code: "",
  file: "",
  files: 0,
  bytes: 0n,
  ...more,
});

test.each<[Verification | undefined, string]>([
  [undefined, "verification pending (a restore compares against the snapshot itself)"],
  [
    v(VerificationState.VERIFICATION_STATE_PENDING),
    "verification pending (a restore compares against the snapshot itself)",
  ],
  [v(VerificationState.VERIFICATION_STATE_VERIFYING), "verifying"],
  [
    v(VerificationState.VERIFICATION_STATE_VERIFIED, { files: 9, bytes: 268_795_904n }),
    "verified (9 file(s), 256.3 MiB)",
  ],
  [
    v(VerificationState.VERIFICATION_STATE_FAILED, { reason: 'cannot read "vm1/a.vhdx": EIO', code: "STORAGE_FAILED" }),
    'verification FAILED: cannot read "vm1/a.vhdx": EIO (STORAGE_FAILED)',
  ],
  [
    v(VerificationState.VERIFICATION_STATE_NONE),
    "not verified: the storage keeps no checksums (a restore checks sizes)",
  ],
])("a snapshot's verification %j reads %j", (verification, text) => {
  expect(verificationText(verification)).toBe(text);
});
