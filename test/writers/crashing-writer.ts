/**
 * A writer process that checkpoints, then dies (SIGKILL) when it is asked to thaw, before answering:
 * what a crashing application looks like to rvss. Usage: node crashing-writer.js NATS_URL SVM SHARE
 */
import { startWriter } from "@rvss/writer-sdk";

const [servers, svm, share] = process.argv.slice(2) as [string, string, string];
void startWriter({
  servers,
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
