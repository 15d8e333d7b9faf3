import { isRvssError } from "./errors";
import { checkRetention, collect, expiresAt, parseTtl, type RetainedBackup } from "./retention";

const H = 3_600_000;

describe("TTL in Velero's syntax", () => {
  test.each([
    ["720h", 720 * H],
    ["1h30m", 1.5 * H],
    ["1.5h", 1.5 * H],
    ["45s", 45_000],
    ["2s500ms", 2_500],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => expect(parseTtl(text)).toBe(ms));

  test.each(["30d", "720", "h", "-1h", "1h 30m", "", "1.2.3h"])("%j is refused naming the field and value", (text) => {
    expect(() => parseTtl(text)).toThrow(`ttl "${text}" is not a duration`);
  });

  test("a policy: empty ttl and keepLast 0 mean none; ttl 0 and a negative keepLast are refused", () => {
    expect(checkRetention("", 0)).toEqual({});
    expect(checkRetention(" 720h ", 7)).toEqual({ ttl: "720h", keepLast: 7 });
    expect(() => checkRetention("0", 0)).toThrow('ttl "0" must be longer than 0');
    expect(() => checkRetention("", -1)).toThrow("keepLast -1 must be a whole number");
    try {
      checkRetention("", 1.5);
    } catch (e) {
      expect(isRvssError(e, "INVALID_ARGUMENT") && e.details.field).toBe("keepLast");
    }
  });

  test("a backup expires at creation + ttl, never without one", () => {
    expect(expiresAt({ ttl: "1h" }, 1000)).toBe(1000 + H);
    expect(expiresAt({ keepLast: 3 }, 1000)).toBeUndefined();
  });
});

function b(id: string, createdAt: number, over: Partial<RetainedBackup> = {}): RetainedBackup {
  const retention = over.retention ?? { ttl: "10s" };
  return {
    id,
    createdAt,
    state: "Completed",
    svms: ["vs1"],
    retention,
    schedule: "",
    ...(retention.ttl ? { expiresAt: createdAt + parseTtl(retention.ttl) } : {}),
    ...over,
  };
}

const ids = (v: { backupId: string }[]) => v.map((x) => x.backupId);

describe("the collector's choice at a given time", () => {
  const cases: [string, RetainedBackup[], number, boolean, string[], string[]][] = [
    // name, backups, now, force, expired, kept
    ["nothing expired yet", [b("a", 0), b("b", 1000)], 9_000, false, [], []],
    [
      "expired ones go, oldest first; the newest completed stays",
      [b("a", 0), b("b", 1000), b("c", 2000)],
      60_000,
      false,
      ["a", "b"],
      ["c"],
    ],
    ["forced, the last completed goes too", [b("a", 0), b("c", 2000)], 60_000, true, ["a", "c"], []],
    [
      "failed backups expire by ttl; they do not protect an SVM",
      [b("a", 0), b("f", 5000, { state: "Failed" })],
      60_000,
      false,
      ["f"],
      ["a"],
    ],
    [
      "running and deleting backups are never chosen",
      [b("r", 0, { state: "Running" }), b("d", 0, { state: "Deleting" }), b("c", 1)],
      60_000,
      false,
      [],
      ["c"],
    ],
    [
      "keep-last 2 keeps the two newest of the schedule",
      [1, 2, 3, 4].map((i) => b(`k${i}`, i * 1000, { retention: { keepLast: 2 }, schedule: "nightly" })),
      5_000,
      false,
      ["k1", "k2"],
      [],
    ],
    [
      "keep-last counts completed backups only",
      [b("k1", 1000, { retention: { keepLast: 1 } }), b("x", 2000, { retention: { keepLast: 1 }, state: "Failed" })],
      5_000,
      false,
      [],
      [],
    ],
    [
      "keep-last counts per schedule: a backup by hand does not push a scheduled one out",
      [b("s1", 1000, { retention: { keepLast: 1 }, schedule: "nightly" }), b("m", 2000, { retention: {} })],
      5_000,
      false,
      [],
      [],
    ],
    [
      "a backup over two SVMs goes only when it is beyond keep-last on both",
      [
        b("ab", 1000, { retention: { keepLast: 1 }, svms: ["vs1", "vs2"] }),
        b("a2", 2000, { retention: { keepLast: 1 }, svms: ["vs1"] }),
      ],
      5_000,
      false,
      [],
      [],
    ],
    [
      "... and goes once both SVMs have a newer one",
      [
        b("ab", 1000, { retention: { keepLast: 1 }, svms: ["vs1", "vs2"] }),
        b("a2", 2000, { retention: { keepLast: 1 }, svms: ["vs1"] }),
        b("b2", 3000, { retention: { keepLast: 1 }, svms: ["vs2"] }),
      ],
      5_000,
      false,
      ["ab"],
      [],
    ],
  ];
  test.each(cases)("%s", (_name, backups, now, force, expired, kept) => {
    const out = collect(backups, now, { force });
    expect(ids(out.expired)).toEqual(expired);
    expect(ids(out.kept)).toEqual(kept);
  });

  test("each verdict says why", () => {
    const out = collect([b("a", 0), b("c", 2000)], 60_000);
    expect(out.expired[0]!.reason).toBe("ttl 10s expired at 1970-01-01T00:00:10.000Z");
    expect(out.kept[0]!.reason).toMatch(/but it is the last completed backup of SVM vs1$/);
    const k = collect(
      [1, 2].map((i) => b(`k${i}`, i, { retention: { keepLast: 1 }, schedule: "n" })),
      5,
    );
    expect(k.expired[0]!.reason).toBe('keep-last 1: 1 newer completed backups of schedule "n" on vs1');
  });
});
