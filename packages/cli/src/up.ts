/**
 * `rvss up`: the whole system in the foreground until Ctrl-C. Uses NATS_URL when set, otherwise
 * starts a nats-server with its store under $RVSS_HOME (~/.rvss); uses RVSS_FILER_CONFIG when set,
 * otherwise the sample filer under $RVSS_HOME.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsServer, createSampleFiler, findNatsServer, startRvss } from "@rvss/testkit";

export async function up(): Promise<number> {
  const home = process.env.RVSS_HOME || path.join(os.homedir(), ".rvss");
  fs.mkdirSync(home, { recursive: true });
  let nats: NatsServer | null = null;
  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    findNatsServer();
    nats = await NatsServer.start({ storeDir: path.join(home, "nats") });
    natsUrl = nats.url;
  }
  let filerConfig = process.env.RVSS_FILER_CONFIG;
  if (!filerConfig) {
    filerConfig = path.join(home, "filer.json");
    if (!fs.existsSync(filerConfig)) await createSampleFiler(home);
  }
  const grpcAddr = process.env.RVSS_GRPC_ADDR || "127.0.0.1:50051";
  const rvss = await startRvss(
    { NATS_URL: natsUrl, RVSS_FILER_CONFIG: filerConfig, RVSS_GRPC_ADDR: grpcAddr },
    { onOutput: (name, line) => console.log(`[${name}] ${line}`) },
  );
  console.log(`rvss is up: gRPC ${grpcAddr}, NATS ${natsUrl}, filer ${filerConfig}. Ctrl-C stops it.`);
  console.log(
    `Try: rvss backup create --svm vs1 --share share1 --wait   (events: NATS_URL=${natsUrl} rvss events tail)`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  console.log("stopping...");
  await rvss.stop();
  await nats?.stop();
  return 0;
}
