/** Logs for people: RVSS_LOG_FORMAT=pretty is one line per entry, with no colour codes off a terminal. */
import { spawn } from "node:child_process";
import { serviceEntry } from "@rvss/testkit";

test("pretty logs written to a pipe are single lines without colour codes", async () => {
  const out = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [serviceEntry("coordinator")], {
      env: {
        ...process.env,
        RVSS_LOG_FORMAT: "pretty",
        NATS_URL: "nats://127.0.0.1:1",
        RVSS_NATS_CONNECT_TIMEOUT_MS: "300",
      },
      stdio: ["ignore", "pipe", "ignore"],
    });
    let text = "";
    child.stdout.on("data", (b: Buffer) => (text += b.toString()));
    child.on("exit", () => resolve(text));
  });
  expect(out).not.toContain("\u001b[");
  expect(out.trim().split("\n")).toEqual([
    expect.stringMatching(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] FATAL: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: .* \{"code":"NATS_UNAVAILABLE",/,
    ),
  ]);
});
