import { rvss } from "./cli";

test("rvss demo shows every phase and ends with a byte-identical, application-consistent restore, secured", async () => {
  const env = { NATS_URL: "" };
  const r = await rvss(["demo"], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  for (const phase of [
    "[Started]",
    "[Added]",
    "[CreationInProgress]",
    "[Committed]",
    "[Exposed]",
    "[Recovered]",
    "snapshot rvss_",
    "deleted",
    "finished: COMPLETED",
  ]) {
    expect(r.stdout).toContain(phase);
  }
  expect(r.stdout).toMatch(/gRPC with mutual TLS: certificates made for this run/);
  // The writer, too, logged in as itself: its checkpoint below is on record.
  expect(r.stdout).toContain(
    "one NATS user per service and one for the writer, each allowed only its own subjects; anonymous clients refused",
  );
  expect(r.stdout).toMatch(/VM files byte-identical to the share: yes/);
  expect(r.stdout).toMatch(/writers checkpointed: 1 writer\(s\)/);
  expect(r.stdout).toMatch(
    /sqlvm\/orders\.sqlite: integrity ok, (\d+) transactions, last id \1 = the writer's checkpoint \1: yes/,
  );
  expect(r.stdout).toMatch(
    /Summary: backup COMPLETED in [\d.]+ s, restore byte-identical, databases application-consistent, nothing left behind/,
  );
});
