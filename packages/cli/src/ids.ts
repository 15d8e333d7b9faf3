/** Backups as people name them: the whole ID, the backup's name, or a prefix of the ID naming one backup. */
import type { RvssClient } from "@rvss/client";

/** The backup's ID. The coordinator resolves the reference (one rule for every client) and names what is wrong. */
export async function resolveBackupId(client: RvssClient, ref: string): Promise<string> {
  return (await client.getBackup(ref)).id;
}
