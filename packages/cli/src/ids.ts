/** Backup IDs as people type them: the whole UUID, or any prefix that names exactly one backup. */
import { ErrorCodes, RvssError } from "@rvss/core";
import type { RvssClient } from "@rvss/client";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The one backup ID starting with `prefix`; an ambiguous prefix is a usage error listing the candidates. */
export async function resolveBackupId(client: RvssClient, prefix: string): Promise<string> {
  if (UUID.test(prefix)) return prefix.toLowerCase();
  const p = prefix.toLowerCase();
  const matches = (await client.listBackups()).map((b) => b.id).filter((id) => id.startsWith(p));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new RvssError(
      ErrorCodes.BACKUP_NOT_FOUND,
      `no backup ID starts with "${prefix}"; list them with: rvss backup list`,
      {
        backupId: prefix,
      },
    );
  throw new RvssError(
    ErrorCodes.INVALID_ARGUMENT,
    `"${prefix}" starts ${matches.length} backup IDs (${matches.slice(0, 5).join(", ")}${matches.length > 5 ? ", …" : ""}); type more of it`,
    { backupId: prefix },
  );
}
