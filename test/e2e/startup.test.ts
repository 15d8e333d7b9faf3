/** What a service says when it cannot start: each message names the thing that is wrong. */
import * as fsp from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { freePort, serviceEntry, startSecureNats, type ServiceName } from "@rvss/testkit";

let dir: string;
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-start-"));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

function run(name: ServiceName, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [serviceEntry(name)], {
      env: { ...process.env, RVSS_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("exit", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

test("NATS unreachable at start-up: the service exits and names the server", async () => {
  const r = await run("coordinator", { NATS_URL: "nats://127.0.0.1:1", RVSS_NATS_CONNECT_TIMEOUT_MS: "1000" });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /coordinator: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: .*set NATS_URL, or start nats-server with JetStream/,
  );
});

test("a malformed filer description: the service exits and names the file and field", async () => {
  const { nats, users } = await startSecureNats();
  const file = path.join(dir, "filer.json");
  await fsp.writeFile(
    file,
    JSON.stringify({
      root: "x",
      svms: [{ name: "vs1", volumes: [{ name: "v", junctionPath: "/a" }], shares: [{ name: "s", path: "/b" }] }],
    }),
  );
  const r = await run("snapshot-executor", {
    NATS_URL: nats.url,
    RVSS_FILER_CONFIG: file,
    ...users.env("snapshot-executor"),
  });
  await nats.dispose();
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    `snapshot-executor: ${file}: svms[0].shares[0].path: "/b" lies under no volume junction of SVM "vs1"`,
  );
});

test("a malformed variable: the service exits 2 and names it", async () => {
  const r = await run("share-discovery", { RVSS_CONCURRENCY: "lots" });
  expect(r).toEqual({ code: 2, stderr: 'share-discovery: RVSS_CONCURRENCY="lots" is not an integer >= 1\n' });
});

test("a health port already taken: the service exits before it connects and names the address", async () => {
  const port = await freePort();
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
  try {
    // NATS is unreachable too: the taken port is what it must find first.
    const r = await run("auto-recovery-notifier", {
      NATS_URL: "nats://127.0.0.1:1",
      RVSS_HEALTH_ADDR: `127.0.0.1:${port}`,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^auto-recovery-notifier: cannot serve health and metrics on RVSS_HEALTH_ADDR 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`,
      ),
    );
  } finally {
    taken.close();
  }
});
