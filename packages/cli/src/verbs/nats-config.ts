/**
 * rvss nats-config: the nats-server `authorization` block that gives each rvss identity exactly its
 * subjects (core derives them from the wire names), and each application writer named with
 * --writer only its own requests. Passwords are references to environment variables of the
 * nats-server (`$RVSS_NATS_PASSWORD_<IDENTITY>`), so the block holds no secret.
 */
import { natsAuthorization, natsUsers } from "@rvss/core";
import type { Register } from "../program";

/** The nats-server environment variable that holds an identity's password. */
export const passwordVariable = (identity: string): string =>
  `RVSS_NATS_PASSWORD_${identity.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

export const natsConfigVerb: Register = (program, run) => {
  program
    .command("nats-config")
    .description("print the nats-server authorization block: one user per rvss identity, least privilege")
    .option("--writer <writer-id...>", "also a user writer-<writer-id> per application writer, answering only its own")
    .action(
      run(async (_s, o: { writer?: string[] }) => {
        const users = natsUsers((user) => `$${passwordVariable(user)}`, o.writer ?? []);
        process.stdout.write(
          `# rvss ${users.map((u) => u.user).join(", ")}: set each RVSS_NATS_PASSWORD_* in nats-server's environment\n` +
            `${natsAuthorization(users)}\n`,
        );
        return 0;
      }),
    );
};
