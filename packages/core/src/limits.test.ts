import { checkRequestLimits } from "./limits";

const limits = { maxSharesPerRequest: 2, maxFilesPerRequest: 3 };
const share = (files: number, vms = 0) => ({ files: Array(files).fill("f"), vms: Array(vms).fill({}) });

describe("checkRequestLimits", () => {
  test.each([
    [[share(1), share(2)], null],
    [[share(0), share(0), share(0)], /3 shares, more than the limit of 2 \(RVSS_MAX_SHARES_PER_REQUEST\)/],
    [[share(2), share(2)], /4 files and VMs, more than the limit of 3 \(RVSS_MAX_FILES_PER_REQUEST\)/],
    [[share(1, 3)], /4 files and VMs/],
    [[{}], null],
  ])("%j", (items, refusal) => {
    const run = () => checkRequestLimits(items, limits);
    if (refusal) expect(run).toThrow(refusal);
    else expect(run).not.toThrow();
  });

  test("a refusal is RESOURCE_EXHAUSTED and names its variable", () => {
    try {
      checkRequestLimits([share(0), share(0), share(0)], limits);
      throw new Error("not refused");
    } catch (e) {
      expect(e).toMatchObject({ code: "RESOURCE_EXHAUSTED", details: { variable: "RVSS_MAX_SHARES_PER_REQUEST" } });
    }
  });
});
