/** Keys of the rvss-state KV bucket (backups have their own, in backups.ts). */
import { token } from "@rvss/core";

/** The FSRVP server record of one SVM: context, sets, draining storage, queue, timer. */
export const svmKey = (svm: string): string => `svm.${token(svm)}`;
export const restoreKey = (id: string): string => `restore.${id}`;
/** Maps a CreateBackup request_id to the backup it created (idempotent retries). */
export const requestKey = (requestId: string): string => `request.${token(requestId)}`;
