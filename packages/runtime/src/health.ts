import * as http from "node:http";
import { registry } from "./metrics";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** Why a service cannot do its work now ("lost NATS at ..."), or null while it can. */
export type Unready = () => string | null;

/**
 * /healthz answers 200 while the process runs (liveness), /readyz 200 only while `unready()` finds
 * nothing wrong and 503 with the reason otherwise, /metrics the Prometheus registry.
 */
export async function startHealthServer(addr: string, unready: Unready): Promise<HealthServer> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200).end("ok\n");
    } else if (req.url === "/readyz") {
      const reason = unready();
      res.writeHead(reason === null ? 200 : 503).end(reason === null ? "ready\n" : `not ready: ${reason}\n`);
    } else if (req.url === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return {
    port: typeof bound === "object" && bound ? bound.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
