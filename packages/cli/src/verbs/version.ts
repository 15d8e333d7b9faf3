/** rvss version: this client's version and the coordinator's. */
import { RvssError } from "@rvss/core";
import { outputOption, printer } from "../printer";
import type { Register } from "../program";

/** The version of this CLI, as its package says. */
export const CLI_VERSION: string = (require("../../package.json") as { version: string }).version;

export const versionVerb: Register = (program, run) => {
  program.version(CLI_VERSION, "-V, --version", "print the client's version");
  program
    .command("version")
    .description("print the client's version and the coordinator's")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const out = printer(o.output);
        const client = s.client();
        const server = await client.serverInfo().catch((err: unknown) => RvssError.from(err));
        const coordinator =
          server instanceof RvssError
            ? { address: client.address, error: server.message }
            : { version: server.version, address: client.address, natsServerVersion: server.natsServerVersion };
        // The client's version is worth printing even when the coordinator cannot be asked.
        out.item(
          () =>
            `Client: rvss ${CLI_VERSION}\nCoordinator: ${
              server instanceof RvssError
                ? `unknown (${server.message})`
                : `rvss ${server.version} at ${client.address} (nats-server ${server.natsServerVersion})`
            }`,
          { client: { version: CLI_VERSION }, coordinator },
        );
        return server instanceof RvssError ? 1 : 0;
      }),
    );
};
