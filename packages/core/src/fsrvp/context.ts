/** Shadow copy contexts and attributes (MS-FSRVP 2.2.2.1 and 2.2.2.2). */
export const ATTR = {
  PERSISTENT: 0x00000001,
  NO_AUTO_RECOVERY: 0x00000002,
  NO_AUTO_RELEASE: 0x00000008,
  NO_WRITERS: 0x00000010,
  AUTO_RECOVERY: 0x00400000,
} as const;

export const CONTEXT = {
  BACKUP: 0x00000000,
  FILE_SHARE_BACKUP: 0x00000010,
  NAS_ROLLBACK: 0x00000019,
  APP_ROLLBACK: 0x00000009,
} as const;

const bases = new Set<number>(Object.values(CONTEXT));

/**
 * A context is one of the four, optionally ORed with ATTR_AUTO_RECOVERY or ATTR_NO_AUTO_RECOVERY
 * (not both: they contradict each other).
 */
export function isValidContext(context: number): boolean {
  const c = context >>> 0;
  const both = ATTR.AUTO_RECOVERY | ATTR.NO_AUTO_RECOVERY;
  if ((c & both) === both) return false;
  return bases.has(c & ~both);
}

/** Writable between Expose and RecoveryComplete only with ATTR_AUTO_RECOVERY (MS-FSRVP 3.3). */
export function isAutoRecovery(context: number): boolean {
  return (context & ATTR.AUTO_RECOVERY) !== 0;
}

/** The context managed backups use: a backup whose writers auto-recover the copies. */
export const MANAGED_BACKUP_CONTEXT = CONTEXT.BACKUP | ATTR.AUTO_RECOVERY;
