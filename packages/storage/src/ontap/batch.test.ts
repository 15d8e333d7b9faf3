/** Which names can stand as one alternative of an ONTAP query value, and how a batch is answered. */
import { batchable, recordLoader } from "./batch";

test.each([
  ["share1", true],
  ["Virtual Hard Disks", true],
  ["vm1.vhdx", true],
  ["share1@{6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f}", true],
  ["a|b", false],
  ["vm*", false],
  ["!x", false],
  ["<5", false],
  ["vm..vhdx", false],
  ["null", false],
  ["", false],
])("%s is batchable: %s", (name, expected) => {
  expect(batchable(name)).toBe(expected);
});

test("one tick's loads are one query; each gets its own records, matched without case", async () => {
  const queries: string[][] = [];
  const loader = recordLoader(
    async (keys) => {
      queries.push([...keys]);
      return [{ name: "Share1" }, { name: "share2" }, { name: "other" }];
    },
    (r) => [r.name.toLowerCase()],
  );
  const got = await Promise.all(["share1", "SHARE2", "nope"].map((k) => loader.load(k)));
  expect(queries).toEqual([["share1", "SHARE2", "nope"]]);
  expect(got).toEqual([[{ name: "Share1" }], [{ name: "share2" }], []]);
});
