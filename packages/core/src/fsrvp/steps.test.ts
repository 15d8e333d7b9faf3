import {
  STEPS,
  managedSetEvents,
  managedSteps,
  stepOfCommand,
  stepOfFailure,
  stepsReportedBy,
  type StepKey,
} from "./steps";

describe("the table of steps", () => {
  test("a managed set with writers goes through every awaited step but seal", () => {
    expect(managedSteps(true)).toEqual(["resolve", "checkpoint", "create", "expose", "auto_recover", "finalize"]);
    expect(managedSteps(false)).toEqual(["resolve", "checkpoint", "create", "expose", "finalize"]);
  });

  test.each([
    [{ writers: false, volumes: 1 }, []],
    [{ writers: true, volumes: 2 }, ["writersRecovered"]],
  ])("the events of a completed managed set (%j) come in the documented order", (o, extra) => {
    const expected = [
      "setStarted",
      "sharesResolved",
      "sharesAdded",
      "writersCheckpointed",
      "creationStarted",
      "shadowCopiesCreated",
      "shadowCopiesExposed",
      ...extra,
      "shadowCopiesSealed",
      ...Array<string>(o.volumes).fill("snapshotTaken"),
      "shadowCopiesDeleted",
      "setCompleted",
    ];
    expect(managedSetEvents(o)).toEqual(expected);
  });

  test.each([
    ["sharesResolved", ["resolve"]],
    ["shadowCopiesSealed", ["seal", "finalize"]],
    ["snapshotTaken", ["finalize"]],
    ["writersThawed", []],
    ["restoreFinished", []],
  ])("%s reports the pending steps %j", (event, steps) => {
    expect(stepsReportedBy(event)).toEqual(steps);
  });

  test("each command case and each failure name belongs to one step", () => {
    const keys = Object.keys(STEPS) as StepKey[];
    for (const k of keys) expect(stepOfCommand(STEPS[k].command)).toBe(k);
    const failures = keys.flatMap((k) => {
      const f = (STEPS[k] as { failure?: string }).failure;
      return f ? [[k, f] as const] : [];
    });
    for (const [k, f] of failures) expect(stepOfFailure(f)).toBe(k);
    expect(new Set(failures.map(([, f]) => f)).size).toBe(failures.length);
  });

  test("every awaited step can fail by name", () => {
    for (const k of Object.keys(STEPS) as StepKey[])
      if (STEPS[k].awaited) expect((STEPS[k] as { failure?: string }).failure).toMatch(/^STEP_/);
  });
});
