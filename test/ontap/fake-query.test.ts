/** The fake ONTAP reads query values as ONTAP does: alternatives, wildcards, negation, any case. */
import { queryMatches } from "@rvss/testkit";

test.each([
  ["share1", "share1", true],
  ["SHARE1", "share1", true],
  ["share1@{6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f}", "*@{*", true],
  ["share1@{6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f}", "*@{*}*", true],
  ["share1", "!*@{*", true],
  ["share1@{x}", "!*@{*", false],
  ["rvss_a_b_20261201T000000Z", "rvss_*", true],
  ["daily.2026-12-01_0010", "rvss_*", false],
  ["vol2", "vol1|vol2", true],
  ["a.b", "a?b", false],
])("%s against %s", (value, pattern, expected) => {
  expect(queryMatches(value, pattern)).toBe(expected);
});
