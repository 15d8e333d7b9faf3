/** rvss version: this client's version and the coordinator's. */
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
        const server = await client.serverInfo();
        out.item(
          () =>
            `Client: rvss ${CLI_VERSION}\nCoordinator: rvss ${server.version} at ${client.address} (nats-server ${server.natsServerVersion})`,
          {
            client: { version: CLI_VERSION },
            coordinator: {
              version: server.version,
              address: client.address,
              natsServerVersion: server.natsServerVersion,
            },
          },
        );
        return 0;
      }),
    );
};
