import { isRvssError } from "@rvss/core";
import * as os from "node:os";
import * as path from "node:path";
import { ONTAP_LATENCY, loadConfig } from "./config";

describe("configuration", () => {
  test("the defaults run everything on one machine", () => {
    const c = loadConfig({});
    expect([c.natsUrl, c.grpcAddr, c.storage, c.storageLatency, c.timers]).toEqual([
      "nats://127.0.0.1:4222",
      "127.0.0.1:50051",
      "local",
      null,
      { shortMs: 180_000, longMs: 1_800_000 },
    ]);
  });

  test.each([
    [{ RVSS_CONCURRENCY: "0" }, 'RVSS_CONCURRENCY="0" is not an integer >= 1'],
    [{ RVSS_GRPC_ADDR: "50051" }, 'RVSS_GRPC_ADDR="50051" is not host:port'],
    [{ RVSS_STORAGE: "s3" }, 'RVSS_STORAGE="s3" is not a known backend (known: local, ontap, null)'],
    [{ NATS_URL: "http://x" }, 'NATS_URL entry "http://x" is not a nats:// URL'],
    [{ RVSS_STORAGE_LATENCY: "clone=fast" }, 'RVSS_STORAGE_LATENCY part "clone=fast" is not ontap or op=ms'],
    [{ RVSS_LOG_FORMAT: "xml" }, 'RVSS_LOG_FORMAT="xml" must be json or pretty'],
    [{ RVSS_PROVISION: "yes" }, 'RVSS_PROVISION="yes" must be auto, true or false'],
  ])("%j is refused, naming the variable", (env, message) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toContain(message);
  });

  test.each([
    ["ontap", ONTAP_LATENCY],
    ["ontap,snapshot=100,jitter=0.1", { ...ONTAP_LATENCY, snapshot: 100, jitter: 0.1 }],
    ["clone=10", { resolve: 0, clone: 10, expose: 0, seal: 0, snapshot: 0, cleanup: 0, restore: 0, jitter: 0 }],
  ])("storage latency %s", (v, expected) => {
    expect(loadConfig({ RVSS_STORAGE_LATENCY: v }).storageLatency).toEqual(expected);
  });

  test.each([
    ["the environment wins", { NATS_URL: "nats://a:1" }, { NATS_URL: "nats://b:2" }, "nats://a:1"],
    ["the fallback fills an unset variable", {}, { NATS_URL: "nats://b:2" }, "nats://b:2"],
    ["an empty variable counts as unset", { NATS_URL: "" }, { NATS_URL: "nats://b:2" }, "nats://b:2"],
    ["the default comes last", {}, {}, "nats://127.0.0.1:4222"],
  ])("fallback: %s", (_name, env, fallback, natsUrl) => {
    expect(loadConfig(env, fallback).natsUrl).toBe(natsUrl);
  });

  test.each([
    ["anonymous: auto provisions (a server without users lets anyone)", {}, true],
    ["a NATS user: auto only binds (the provisioner's job)", { RVSS_NATS_USER: "coordinator" }, false],
    ["a token", { RVSS_NATS_TOKEN_FILE: "/run/token" }, false],
    ["a creds file", { RVSS_NATS_CREDS: "/run/x.creds" }, false],
    [
      "a client certificate",
      { RVSS_NATS_CA: __filename, RVSS_NATS_CERT: __filename, RVSS_NATS_KEY: __filename },
      false,
    ],
    ["TLS without a client certificate is still anonymous", { RVSS_NATS_CA: __filename }, true],
    ["told to provision", { RVSS_NATS_USER: "coordinator", RVSS_PROVISION: "true" }, true],
    ["told to bind", { RVSS_PROVISION: "false" }, false],
  ])("RVSS_PROVISION: %s", (_name, env, provision) => {
    expect(loadConfig(env).provision).toBe(provision);
  });

  test("RVSS_HOME defaults to ~/.rvss and expands ~", () => {
    expect(loadConfig({}).home).toBe(path.join(os.homedir(), ".rvss"));
    expect(loadConfig({ RVSS_HOME: "~/x" }).home).toBe(path.join(os.homedir(), "x"));
    expect(loadConfig({ RVSS_HOME: "/srv/rvss" }).home).toBe("/srv/rvss");
  });
});
