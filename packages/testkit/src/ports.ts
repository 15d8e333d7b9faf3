import * as fs from "node:fs";
import * as net from "node:net";

/**
 * Ports are handed out below the kernel's ephemeral range, which outgoing connections take their
 * local ports from: a port there that a killed service or nats-server let go may be taken by some
 * client's connection before the process is started again on it, and its restart then fails.
 */
const EPHEMERAL_START = ephemeralStart();
const LOWEST = Math.max(1024, EPHEMERAL_START - 12_000);
const SPAN = EPHEMERAL_START - LOWEST;
/** Each process walks the range from its own random place, so parallel test workers rarely meet. */
let cursor = Math.floor(Math.random() * SPAN);

function ephemeralStart(): number {
  try {
    const first = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return first > 2048 ? first : 32768;
  } catch {
    return 32768;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SPAN; tries++) {
    const port = LOWEST + (cursor++ % SPAN);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free TCP port on 127.0.0.1 between ${LOWEST} and ${EPHEMERAL_START - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
