import { ErrorCodes, RvssError } from "@rvss/core";
import type { RvssConfig } from "@rvss/runtime";
import type { ShadowCopyRef, SnapshotRef, StorageBackend } from "./backend";
import { LatencyBackend, NullBackend } from "./latency";
import { LocalBackend } from "./local/local-backend";
import { parseFilerConfig, readFilerFile } from "./local/filer-config";
import { OntapBackend } from "./ontap/ontap-backend";
import { parseOntapConfig, svmBackend, type BackendName } from "./ontap/config";

/** The storage backend a service's configuration asks for (RVSS_STORAGE, RVSS_FILER_CONFIG, RVSS_STORAGE_LATENCY). */
export function openBackend(config: Pick<RvssConfig, "storage" | "filerConfig" | "storageLatency">): StorageBackend {
  const base = config.storage === "null" ? new NullBackend() : openFiler(config.filerConfig, config.storage);
  return config.storageLatency ? new LatencyBackend(base, config.storageLatency) : base;
}

/**
 * The backends of a filer description: local SVMs on real files, ONTAP SVMs over REST; an SVM that
 * names no backend has `dflt`'s.
 */
export function openFiler(file: string, dflt: BackendName): StorageBackend {
  const text = readFilerFile(file);
  let doc: Record<string, unknown> | null = null;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
      doc = parsed as Record<string, unknown>;
  } catch {
    // parseFilerConfig names the JSON error.
  }
  const entries = Array.isArray(doc?.["svms"]) ? (doc!["svms"] as Record<string, unknown>[]) : [];
  const kinds = entries.map((s, i) => svmBackend(file, s ?? {}, `svms[${i}]`, dflt));
  // Each backend's parser sees its own SVMs only: a name used by both is caught here.
  const seen = new Map<unknown, number>();
  entries.forEach((s, i) => {
    const name = s?.["name"];
    const first = seen.get(name);
    if (first !== undefined && kinds[first] !== kinds[i])
      throw new RvssError(
        ErrorCodes.CONFIG_INVALID,
        `${file}: svms[${i}].name: SVM "${String(name)}" is defined twice`,
        {
          path: file,
          field: `svms[${i}].name`,
        },
      );
    seen.set(name, i);
  });
  if (doc === null || !kinds.includes("ontap")) return new LocalBackend(parseFilerConfig(text, file, dflt), file);
  const ontap = new OntapBackend(parseOntapConfig(doc, file, dflt), file);
  if (!kinds.includes("local")) return ontap;
  return new SvmRouter(new LocalBackend(parseFilerConfig(text, file, dflt), file), ontap);
}

/** Sends each call to the backend of its SVM, so local and ONTAP SVMs run in one deployment. */
export class SvmRouter implements StorageBackend {
  readonly kind = "local+ontap";
  private readonly of = new Map<string, StorageBackend>();

  constructor(
    private readonly local: LocalBackend,
    private readonly ontap: OntapBackend,
  ) {}

  /** Closes the connections to the ONTAP clusters. */
  close(): Promise<void> {
    return this.ontap.close();
  }

  private async backend(svm: string): Promise<StorageBackend> {
    if (this.of.size === 0) {
      for (const b of [this.local, this.ontap]) for (const s of await b.listSvms()) this.of.set(s, b);
    }
    // Unknown SVMs go to the local backend, whose error lists the known ones.
    return this.of.get(svm) ?? this.local;
  }

  async resolveShare(svm: string, share: string) {
    return (await this.backend(svm)).resolveShare(svm, share);
  }
  async checkFiles(share: Parameters<StorageBackend["checkFiles"]>[0], files: string[]) {
    return (await this.backend(share.svm)).checkFiles(share, files);
  }
  async *walkShare(share: Parameters<StorageBackend["walkShare"]>[0]) {
    yield* (await this.backend(share.svm)).walkShare(share);
  }
  async createShadowCopy(req: Parameters<StorageBackend["createShadowCopy"]>[0]) {
    return (await this.backend(req.svm)).createShadowCopy(req);
  }
  async exposeShadowCopy(req: Parameters<StorageBackend["exposeShadowCopy"]>[0]) {
    return (await this.backend(req.svm)).exposeShadowCopy(req);
  }
  async sealShadowCopy(ref: ShadowCopyRef) {
    return (await this.backend(ref.svm)).sealShadowCopy(ref);
  }
  async deleteShadowCopy(ref: ShadowCopyRef) {
    return (await this.backend(ref.svm)).deleteShadowCopy(ref);
  }
  async createSnapshot(ref: SnapshotRef) {
    return (await this.backend(ref.svm)).createSnapshot(ref);
  }
  async deleteSnapshot(ref: SnapshotRef) {
    return (await this.backend(ref.svm)).deleteSnapshot(ref);
  }
  async restore(req: Parameters<StorageBackend["restore"]>[0]) {
    return (await this.backend(req.snapshot.svm)).restore(req);
  }
  async listSnapshots(svm: string) {
    return (await this.backend(svm)).listSnapshots(svm);
  }
  async listShadowCopies(svm: string) {
    return (await this.backend(svm)).listShadowCopies(svm);
  }
  async listExposedShares(svm: string) {
    return (await this.backend(svm)).listExposedShares(svm);
  }
  async listSvms() {
    return [...(await this.local.listSvms()), ...(await this.ontap.listSvms())];
  }
  finishRemovals() {
    return this.local.finishRemovals();
  }
  /** The local volumes' (ONTAP's are what ONTAP is). */
  async capabilities() {
    return this.local.capabilities();
  }
  async verifies(svm: string) {
    return (await this.backend(svm)).verifySnapshot !== undefined;
  }
  async verifySnapshot(ref: SnapshotRef) {
    const b = await this.backend(ref.svm);
    if (!b.verifySnapshot)
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `SVM "${ref.svm}" is on ${b.kind}, which keeps no checksums of snapshots to verify`,
        { svm: ref.svm, snapshot: ref.name },
      );
    return b.verifySnapshot(ref);
  }
  async snapshotVerification(ref: SnapshotRef) {
    return (await (await this.backend(ref.svm)).snapshotVerification?.(ref)) ?? null;
  }
  async svmNames(svm: string) {
    return (await this.backend(svm)).svmNames(svm);
  }
}
