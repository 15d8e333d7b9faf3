import { Step } from "@rvss/proto";
import type { PhaseResult } from "@rvss/bus";
import { reportProgress } from "./progress";

describe("progress of a long step", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test("is passed on once a second, summed over the parts, and not after the step ends", () => {
    const sent: PhaseResult[] = [];
    const report = reportProgress(async (r) => void sent.push(r), Step.STEP_CREATE);
    report.part("a")({ bytes: 100, files: 1, bytesTotal: 0, filesTotal: 2 });
    report.part("b")({ bytes: 50, files: 1, bytesTotal: 0, filesTotal: 3 });
    jest.advanceTimersByTime(999);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    report.part("a")({ bytes: 300, files: 2, bytesTotal: 0, filesTotal: 2 });
    jest.advanceTimersByTime(1000);
    report.stop();
    jest.advanceTimersByTime(5000);
    expect(sent.map((r) => [r.discriminator, r.body])).toEqual([
      [
        "1",
        {
          $case: "stepProgress",
          value: {
            step: Step.STEP_CREATE,
            restoreId: "",
            bytesDone: 150n,
            bytesTotal: 0n,
            filesDone: 2,
            filesTotal: 5,
            elapsedMs: 1000,
          },
        },
      ],
      [
        "2",
        {
          $case: "stepProgress",
          value: {
            step: Step.STEP_CREATE,
            restoreId: "",
            bytesDone: 350n,
            bytesTotal: 0n,
            filesDone: 3,
            filesTotal: 5,
            elapsedMs: 2000,
          },
        },
      ],
    ]);
  });
});
