/**
 * rvss nats-config: the nats-server `authorization` block that gives each rvss identity exactly its
 * subjects (core derives them from the wire names). Passwords are references to environment
 * variables of the nats-server (`$RVSS_NATS_PASSWORD_<IDENTITY>`), so the block holds no secret.
 */
import { NATS_IDENTITIES, natsAuthorization, natsPermissions } from "@rvss/core";
import type { Register } from "../program";

/** The nats-server environment variable that holds an identity's password. */
export const passwordVariable = (identity: string): string =>
  `RVSS_NATS_PASSWORD_${identity.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

export const natsConfigVerb: Register = (program, run) => {
  program
    .command("nats-config")
    .description("print the nats-server authorization block: one user per rvss identity, least privilege")
    .action(
      run(async () => {
        const users = NATS_IDENTITIES.map((id) => ({
          user: id,
          password: `$${passwordVariable(id)}`,
          permissions: natsPermissions(id),
        }));
        process.stdout.write(
          `# rvss ${NATS_IDENTITIES.join(", ")}: set each RVSS_NATS_PASSWORD_* in nats-server's environment\n` +
            `${natsAuthorization(users)}\n`,
        );
        return 0;
      }),
    );
};
