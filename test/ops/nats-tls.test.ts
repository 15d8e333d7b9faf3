/**
 * NATS over mutual TLS, as the chart configures it from a Secret: a real nats-server that requires
 * client certificates and maps them to a user (verify_and_map), certificates made with openssl.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { connectBus } from "@rvss/bus";
import { ErrorCodes, isRvssError } from "@rvss/core";
import { createLogger, loadConfig } from "@rvss/runtime";
import { NatsServer, issueCertificate, makeCa } from "@rvss/testkit";

let dir: string;
let nats: NatsServer;
const file = (name: string): string => path.join(dir, name);

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-tls-"));
  makeCa(dir, "ca", "rvss test CA");
  issueCertificate(dir, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  issueCertificate(dir, "ca", "client", "coordinator", "DNS:coordinator", "clientAuth");
  nats = await NatsServer.start({
    config: [
      `tls { cert_file: "${file("server.pem")}", key_file: "${file("server.key")}", ca_file: "${file("ca.pem")}", verify_and_map: true }`,
      `authorization { users = [ { user: "CN=coordinator" } ] }`,
    ].join("\n"),
  });
}, 60_000);

afterAll(async () => {
  await nats?.dispose();
  await fsp.rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) =>
  loadConfig({
    NATS_URL: `tls://127.0.0.1:${nats.port}`,
    RVSS_NATS_CONNECT_TIMEOUT_MS: "1000",
    RVSS_LOG_LEVEL: "silent",
    ...extra,
  });

test("with the CA and a client certificate NATS maps to a user, a service connects and provisions", async () => {
  const config = env({
    RVSS_NATS_CA: file("ca.pem"),
    RVSS_NATS_CERT: file("client.pem"),
    RVSS_NATS_KEY: file("client.key"),
  });
  const bus = await connectBus(config, "coordinator", createLogger("test", config));
  expect(bus.connection.unready()).toBeNull();
  await bus.provision();
  expect((await bus.jsm.streams.names().next()).length).toBeGreaterThan(0);
  await bus.close();
});

test("without a client certificate the server refuses, and the error names the server", async () => {
  const config = env({ RVSS_NATS_CA: file("ca.pem") });
  const err = await connectBus(config, "coordinator", createLogger("test", config)).catch((e: unknown) => e);
  expect(isRvssError(err, ErrorCodes.NATS_UNAVAILABLE)).toBe(true);
  expect((err as Error).message).toMatch(/^cannot reach NATS at tls:\/\/127\.0\.0\.1:\d+: /);
});

test("a half-configured client certificate or an unreadable file is refused, naming the variable", () => {
  expect(() => env({ RVSS_NATS_CA: file("ca.pem"), RVSS_NATS_CERT: file("client.pem") })).toThrow(
    /needs both RVSS_NATS_CERT and RVSS_NATS_KEY; RVSS_NATS_KEY is not set/,
  );
  expect(() => env({ RVSS_NATS_CA: file("missing.pem") })).toThrow(
    /RVSS_NATS_CA=".*missing\.pem" cannot be read: ENOENT/,
  );
});
