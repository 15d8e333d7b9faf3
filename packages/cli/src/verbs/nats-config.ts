/**
 * rvss nats-config: the nats-server `authorization` block that gives each rvss identity exactly its
 * subjects (core derives them from the wire names), and each application writer named with
 * --writer only its own requests, and registrations for the shares it is granted. Passwords are
 * references to environment variables of the nats-server (`$RVSS_NATS_PASSWORD_<IDENTITY>`), so
 * the block holds no secret.
 */
import { natsAuthorization, natsUsers, parseWriterGrant } from "@rvss/core";
import type { Register } from "../program";

/** The nats-server environment variable that holds an identity's password. */
export const passwordVariable = (identity: string): string =>
  `RVSS_NATS_PASSWORD_${identity.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

export const natsConfigVerb: Register = (program, run) => {
  program
    .command("nats-config")
    .description("print the nats-server authorization block: one user per rvss identity, least privilege")
    .option(
      "--writer <writer-id...>",
      "also a user writer-<writer-id> per application writer, answering only its own; given as ID=SVM/SHARE[,SVM/SHARE...] it may register for those shares only",
    )
    .action(
      run(async (_s, o: { writer?: string[] }) => {
        const grants = (o.writer ?? []).map(parseWriterGrant);
        const users = natsUsers((user) => `$${passwordVariable(user)}`, grants);
        const open = grants.filter((g) => g.shares === null).map((g) => g.writerId);
        process.stdout.write(
          `# rvss ${users.map((u) => u.user).join(", ")}: set each RVSS_NATS_PASSWORD_* in nats-server's environment\n` +
            (open.length > 0
              ? `# writers ${open.join(", ")} may register for any share; --writer <id>=<svm>/<share>,... grants only those\n`
              : "") +
            `${natsAuthorization(users)}\n`,
        );
        return 0;
      }),
    );
};
