import { nextVerification, type SnapshotVerificationRecord } from "./verification";

const at = (state: SnapshotVerificationRecord["state"], t: number): SnapshotVerificationRecord => ({
  volume: "vol1",
  name: "rvss_b_s_20250101T000000Z",
  state,
  at: t,
});

describe("nextVerification", () => {
  test.each<[string, SnapshotVerificationRecord | null, SnapshotVerificationRecord, SnapshotVerificationRecord | null]>(
    [
      ["the first report is kept", null, at("verifying", 1), at("verifying", 1)],
      ["a later state replaces an earlier one", at("verifying", 1), at("verified", 2), at("verified", 2)],
      ["the same report twice changes nothing", at("verifying", 1), at("verifying", 1), null],
      ["an older report (out of order) changes nothing", at("failed", 5), at("verifying", 4), null],
      ["a retry after a failure is taken", at("failed", 5), at("verifying", 9), at("verifying", 9)],
      ["verified stays verified", at("verified", 5), at("verifying", 9), null],
      ["a snapshot the storage cannot verify stays so", at("none", 5), at("failed", 9), null],
      ["two states at one millisecond: the report is taken", at("verifying", 3), at("failed", 3), at("failed", 3)],
    ],
  )("%s", (_, current, report, expected) => {
    expect(nextVerification(current, report)).toEqual(expected);
  });
});
