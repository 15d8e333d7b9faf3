/**
 * rvss provision: creates or updates every stream, durable consumer and KV bucket rvss uses, with
 * the settings of the environment (RVSS_REPLICAS, RVSS_ACK_WAIT_MS, ...), as the configured NATS
 * identity (normally the provisioner, the one that may). Services with their own NATS identity then
 * only bind; the Helm chart runs this as a Job, demo and `rvss up` before their services start.
 */
import { provisionNats, type Provisioned } from "@rvss/bus";
import { createLogger } from "@rvss/runtime";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";

const COLUMNS: Column<Provisioned>[] = [
  { header: "kind", value: (p) => p.kind },
  { header: "name", value: (p) => p.name },
  { header: "result", value: (p) => (p.changed.length > 0 ? `${p.result} (${p.changed.join(", ")})` : p.result) },
];

export const provisionVerb: Register = (program, run) => {
  program
    .command("provision")
    .description("create or update rvss's streams, consumers and KV buckets on NATS (as the provisioner); idempotent")
    .addOption(outputOption())
    .action(
      run(async (s, o: { output: string }) => {
        const out = printer(o.output);
        const config = s.config();
        const done = await provisionNats(config, createLogger("rvss-cli", { logLevel: "warn", logFormat: "json" }));
        out.list(done, COLUMNS, done, "nothing to provision");
        return 0;
      }),
    );
};
