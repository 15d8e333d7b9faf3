/**
 * Backends for benchmarks. `LatencyBackend` wraps any backend and waits a configurable time per
 * operation, modelled on ONTAP, so orchestration overhead can be read against known storage time.
 * `NullBackend` does nothing at all, so orchestration alone can be measured. Neither is used to prove
 * correctness: tests run the local backend on real files.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { StorageLatency } from "@rvss/runtime";
import type {
  CreateShadowCopyRequest,
  ExposeRequest,
  ShareResolution,
  RestoreJob,
  ShadowCopyRef,
  SnapshotRef,
  SnapshotRequest,
  StorageBackend,
} from "./backend";

export class LatencyBackend implements StorageBackend {
  readonly kind: string;
  readonly verifySnapshot?: StorageBackend["verifySnapshot"];
  readonly snapshotVerification?: StorageBackend["snapshotVerification"];
  readonly capabilities?: StorageBackend["capabilities"];
  readonly verifies?: StorageBackend["verifies"];
  readonly finishRemovals?: StorageBackend["finishRemovals"];

  constructor(
    private readonly inner: StorageBackend,
    readonly profile: StorageLatency,
  ) {
    this.kind = `${inner.kind}+latency`;
    // Off the critical path, so without delays.
    this.verifySnapshot = inner.verifySnapshot?.bind(inner);
    this.snapshotVerification = inner.snapshotVerification?.bind(inner);
    this.capabilities = inner.capabilities?.bind(inner);
    this.verifies = inner.verifies?.bind(inner);
    this.finishRemovals = inner.finishRemovals?.bind(inner);
  }

  private wait(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const j = this.profile.jitter;
    return sleep(j > 0 ? ms * (1 - j + Math.random() * 2 * j) : ms);
  }

  async resolveShare(svm: string, share: string): Promise<ShareResolution> {
    await this.wait(this.profile.resolve);
    return this.inner.resolveShare(svm, share);
  }
  checkFiles(share: ShareResolution, files: string[]) {
    return this.inner.checkFiles(share, files);
  }
  walkShare(share: ShareResolution) {
    return this.inner.walkShare(share);
  }
  async createShadowCopy(req: CreateShadowCopyRequest) {
    await this.wait(this.profile.clone);
    return this.inner.createShadowCopy(req);
  }
  async exposeShadowCopy(req: ExposeRequest) {
    await this.wait(this.profile.expose);
    return this.inner.exposeShadowCopy(req);
  }
  async sealShadowCopy(ref: ShadowCopyRef) {
    await this.wait(this.profile.seal);
    return this.inner.sealShadowCopy(ref);
  }
  async deleteShadowCopy(ref: ShadowCopyRef) {
    await this.wait(this.profile.cleanup);
    return this.inner.deleteShadowCopy(ref);
  }
  async createSnapshot(req: SnapshotRequest) {
    await this.wait(this.profile.snapshot);
    return this.inner.createSnapshot(req);
  }
  async deleteSnapshot(ref: SnapshotRef) {
    await this.wait(this.profile.cleanup);
    return this.inner.deleteSnapshot(ref);
  }
  async restore(req: RestoreJob) {
    await this.wait(this.profile.restore);
    return this.inner.restore(req);
  }
  listSnapshots(svm: string) {
    return this.inner.listSnapshots(svm);
  }
  listShadowCopies(svm: string) {
    return this.inner.listShadowCopies(svm);
  }
  listExposedShares(svm: string) {
    return this.inner.listExposedShares(svm);
  }
  listSvms() {
    return this.inner.listSvms();
  }

  svmNames(svm: string) {
    return this.inner.svmNames(svm);
  }
  async probe() {
    await this.inner.probe?.();
  }
}

/** Any SVM and share exist (each SVM one volume, "<svm>_vol", shares at /<share>); every operation succeeds at once and stores nothing. */
export class NullBackend implements StorageBackend {
  readonly kind = "null";

  async resolveShare(svm: string, share: string): Promise<ShareResolution> {
    return {
      svm,
      share,
      volume: `${svm}_vol`,
      sharePath: share,
      junctionPath: "/",
      namespacePath: `/${share}`,
      junctionsBelow: [],
      shadowCopyDirDepth: 5,
    };
  }
  async checkFiles() {
    return [];
  }
  async *walkShare() {}
  async createShadowCopy(req: CreateShadowCopyRequest) {
    return { clonePath: `.shadowcopy/${req.shadowCopyId}`, bytes: 0, fileCount: req.files.length };
  }
  async exposeShadowCopy() {
    return { accessPath: "" };
  }
  async sealShadowCopy() {}
  async deleteShadowCopy() {}
  async createSnapshot(req: SnapshotRequest) {
    return { svm: req.svm, volume: req.volume, name: req.name, createdAt: Date.now() };
  }
  async deleteSnapshot() {}
  async restore(): Promise<never> {
    throw new Error("the null backend keeps no data to restore");
  }
  async listSnapshots() {
    return [];
  }
  async listShadowCopies() {
    return [];
  }
  async listExposedShares() {
    return [];
  }
  async listSvms() {
    return [];
  }

  async svmNames(svm: string) {
    return [svm];
  }
}
