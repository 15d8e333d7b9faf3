import { mapLimit } from "./concurrency";

test("runs at most `limit` at once and keeps the order of results", async () => {
  let active = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (ms) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, ms));
    active--;
    return ms * 10;
  });
  expect([out, peak]).toEqual([[50, 10, 40, 20, 30], 2]);
});

test("a failure rejects after the calls under way settle, and starts no more", async () => {
  const started: number[] = [];
  const settled: number[] = [];
  await expect(
    mapLimit([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setTimeout(r, n * 5));
      settled.push(n);
      if (n === 1) throw new Error("boom");
      return n;
    }),
  ).rejects.toThrow("boom");
  expect([started, settled]).toEqual([
    [1, 2],
    [1, 2],
  ]);
});
