import { rvss } from "./cli";

test("rvss demo shows every phase and ends with a byte-identical restore", async () => {
  const env = { NATS_URL: "" };
  const r = await rvss(["demo"], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  for (const phase of ["[Started]", "[Added]", "[CreationInProgress]", "[Committed]", "[Exposed]", "[Recovered]", "snapshot rvss_", "deleted", "finished: COMPLETED"]) {
    expect(r.stdout).toContain(phase);
  }
  expect(r.stdout).toMatch(/byte-identical to the share: yes/);
  expect(r.stdout).toMatch(/Summary: backup COMPLETED in [\d.]+ s, restore byte-identical, nothing left behind/);
});
