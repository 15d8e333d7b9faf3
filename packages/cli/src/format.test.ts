import { restoreVerification, restoredFileLine } from "./format";

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
