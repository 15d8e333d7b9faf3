/** ServerInfoService: the coordinator's version and its NATS server's, for `rvss version`. */
import type { Bus } from "@rvss/bus";
import type { ServerInfoServiceServer } from "@rvss/proto";

const VERSION = (require("../package.json") as { version: string }).version;

export function serverInfoService(bus: Bus): ServerInfoServiceServer {
  return {
    getServerInfo: (_call, cb) => cb(null, { version: VERSION, natsServerVersion: bus.nc.info?.version ?? "" }),
  };
}
