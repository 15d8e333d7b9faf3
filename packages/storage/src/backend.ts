/**
 * The storage interface every backend implements. Each operation is idempotent: run twice, it ends
 * in the same state without error, because a command may be redelivered after a crash.
 */
import type { LayoutEntry } from "@rvss/core";

export interface ShareResolution {
  svm: string;
  share: string;
  volume: string;
  /** Share root inside the volume, "/"-separated, "" for the volume root. */
  sharePath: string;
  /** The volume's junction path in the SVM namespace, e.g. "/hyperv/vm1". */
  junctionPath: string;
  /** The share's path in the SVM namespace, e.g. "/hyperv/vm1/dir1/vmdir". */
  namespacePath: string;
  /** Junction paths of other volumes mounted under the share root (Remote VSS cannot copy across them). */
  junctionsBelow: string[];
  /** The SVM's shadow copy directory depth (ONTAP -shadowcopy-dir-depth; 0 = unlimited). */
  shadowCopyDirDepth: number;
}

/** Where a share lives: enough to copy from it. */
export type ShareLocation = Pick<ShareResolution, "svm" | "share" | "volume" | "sharePath">;

export interface FileProblem {
  path: string;
  rule: "file-not-found" | "file-not-regular" | "file-escapes-share";
  message: string;
}

/** How far a long operation has got; a total is 0 when the backend cannot tell beforehand. */
export interface Progress {
  bytes: number;
  files: number;
  bytesTotal: number;
  filesTotal: number;
}

export interface CreateShadowCopyRequest {
  svm: string;
  shadowCopyId: string;
  share: ShareLocation;
  /** Relative to the share root; empty clones the whole share. */
  files: string[];
  /** Writable until sealed (ATTR_AUTO_RECOVERY); otherwise sealed at once. */
  writable: boolean;
  /** Told after each file is cloned; the caller decides how often to pass it on. */
  onProgress?: (p: Progress) => void;
}

export interface ShadowCopyInfo {
  /** Path of the copy inside its volume. */
  clonePath: string;
  bytes: number;
  fileCount: number;
}

export interface ShadowCopyRef {
  svm: string;
  volume: string;
  shadowCopyId: string;
}

export interface ExposeRequest extends ShadowCopyRef {
  baseShare: string;
  exposedName: string;
  writable: boolean;
}

export interface SnapshotRef {
  svm: string;
  volume: string;
  name: string;
}

export interface SnapshotRequest extends SnapshotRef {
  /** The sealed copies the snapshot must hold (a backend that snapshots whole volumes holds them anyway). */
  shadowCopyIds?: string[];
}

export interface SnapshotInfo extends SnapshotRef {
  createdAt: number;
}

/** Checksums of a snapshot's files, computed after the backup from the immutable snapshot. */
export interface SnapshotVerification extends SnapshotRef {
  verifiedAt: number;
  /** Per shadow copy: its share and its files' checksums, relative to the share root. */
  shadowCopies: Record<string, { share: string; files: Record<string, { bytes: number; sha256: string }> }>;
}

/** What a backend can do on one volume (said at start, by validate and by describe). */
export interface VolumeCapabilities {
  svm: string;
  volume: string;
  /** The filesystem (local) or platform (ONTAP) holding the volume. */
  filesystem: string;
  /** How copies and snapshots are made: btrfs (subvolume snapshots), reflink, none (byte copies, once). */
  cow: string;
  reflink: boolean;
  subvolume: boolean;
}

export interface ExposedShareInfo {
  svm: string;
  name: string;
  volume: string;
  shadowCopyId: string;
}

export interface CopyInfo extends ShadowCopyRef {
  clonePath: string;
}

export type RestoreDestination =
  /**
   * `root` is the restore root (RVSS_RESTORE_ROOTS) that `path` lies under: links are followed up to
   * it, never below it.
   */
  { kind: "directory"; path: string; root: string } | { kind: "share"; svm: string; share: string };

export interface RestoreJob {
  snapshot: SnapshotRef;
  shadowCopyId: string;
  /** Relative to the share root; empty restores every file of the copy. */
  files: string[];
  target: RestoreDestination;
  /**
   * Replace files that exist at the target with different contents; refused (FILE_EXISTS) otherwise,
   * before anything is written.
   */
  overwrite: boolean;
  /** Told after each file is restored and verified. */
  onProgress?: (p: Progress) => void;
}

export interface RestoredFileReport {
  path: string;
  bytes: number;
  sha256: string;
}

export interface StorageBackend {
  readonly kind: string;
  /** Throws SVM_NOT_FOUND or SHARE_NOT_FOUND naming what is unknown. */
  resolveShare(svm: string, share: string): Promise<ShareResolution>;
  /** Every listed file that is missing, not a regular file, or outside the share. */
  checkFiles(share: ShareResolution, files: string[]): Promise<FileProblem[]>;
  /**
   * Every entry below the share root, a batch at a time as the walk finds them (it never holds the
   * whole tree). Links are reported, never followed; volume junctions below the share are reported as
   * kind "junction" and not entered; a volume root's .snapshot and .shadowcopy are skipped.
   */
  walkShare(share: ShareResolution): AsyncIterable<LayoutEntry[]>;
  createShadowCopy(req: CreateShadowCopyRequest): Promise<ShadowCopyInfo>;
  /** Returns where the backend's clients reach the exposed copy (local: a directory; ONTAP: a UNC path). */
  exposeShadowCopy(req: ExposeRequest): Promise<{ accessPath: string }>;
  /** Makes the copy read-only for good (for its exposed share's connections too). Reads no file content. */
  sealShadowCopy(ref: ShadowCopyRef): Promise<void>;
  /** Removes the exposed share (if any) and the copy. */
  deleteShadowCopy(ref: ShadowCopyRef): Promise<void>;
  /** The volume's backup snapshot, holding the sealed copies a restore needs; on disk when it returns. */
  createSnapshot(req: SnapshotRequest): Promise<SnapshotInfo>;
  deleteSnapshot(ref: SnapshotRef): Promise<void>;
  /**
   * Copies files out of a snapshot's sealed copy and checks them against its verification, or
   * (not verified yet) against the snapshot's own files.
   */
  restore(req: RestoreJob): Promise<RestoredFileReport[]>;
  /** Checksums the snapshot's copies once (idempotent), off the backup's critical path. */
  verifySnapshot?(ref: SnapshotRef): Promise<SnapshotVerification>;
  /** The verification, or null while there is none. */
  snapshotVerification?(ref: SnapshotRef): Promise<SnapshotVerification | null>;
  /**
   * Whether verifySnapshot works for the SVM's snapshots, where it differs by SVM (a router of
   * several backends); without it, wherever verifySnapshot exists.
   */
  verifies?(svm: string): Promise<boolean>;
  /** What each volume can do; fails naming a volume whose filesystem cannot do what it is configured for. */
  capabilities?(): Promise<VolumeCapabilities[]>;
  listSnapshots(svm: string): Promise<SnapshotInfo[]>;
  listShadowCopies(svm: string): Promise<CopyInfo[]>;
  listExposedShares(svm: string): Promise<ExposedShareInfo[]>;
  listSvms(): Promise<string[]>;
  /** The names an SVM answers to in UNC paths (its own first, then its aliases); null for an SVM the backend does not know. */
  svmNames(svm: string): Promise<string[] | null>;
  /** Throws, naming what is wrong, when the storage cannot be reached or written now (readiness). */
  probe?(): Promise<void>;
  /** Finishes the removals a deletion leaves to the background, a stopped process's among them. */
  finishRemovals?(): Promise<void>;
}
