/**
 * A writer process that checkpoints, then dies (SIGKILL) when it is asked to thaw, before answering:
 * what a crashing application looks like to rvss. Usage: node crashing-writer.js NATS_URL SVM SHARE
 * WRITER_ID, logged in as RVSS_NATS_USER with RVSS_NATS_PASSWORD_FILE over TLS to RVSS_NATS_CA.
 */
import { startWriter } from "@rvss/writer-sdk";

const [servers, svm, share, writerId] = process.argv.slice(2) as [string, string, string, string];
const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`crashing-writer: ${name} is not set`);
  return v;
};
void startWriter({
  servers,
  credentials: { user: env("RVSS_NATS_USER"), passwordFile: env("RVSS_NATS_PASSWORD_FILE") },
  tls: { caFile: env("RVSS_NATS_CA") },
  writerId,
  name: "crashing-writer",
  svm,
  shares: [{ share }],
  async checkpoint() {
    return { detail: "frozen" };
  },
  async thaw() {
    process.kill(process.pid, "SIGKILL");
  },
  async autoRecover() {},
}).then((w) => process.stdout.write(`ready ${w.writerId}\n`));
