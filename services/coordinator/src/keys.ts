/** Keys of the rvss-state KV bucket (backups have their own, in backups.ts). */
import { token } from "@rvss/core";

export const restoreKey = (id: string): string => `restore.${id}`;
/** Maps a CreateBackup request_id to the backup it created (idempotent retries). */
export const requestKey = (requestId: string): string => `request.${token(requestId)}`;
