/**
 * A promise-based client of the ShadowCopyAgent (MS-FSRVP over gRPC). A failed call rejects with
 * the FsrvpError (@rvss/core) the server raised, carrying the exact HRESULT, or another RvssError.
 */
import { Metadata, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import {
  ShadowCopyAgentClient,
  type AddToShadowCopySetResponse,
  type GetShareMappingResponse,
  type GetSupportedVersionResponse,
  type IsPathShadowCopiedResponse,
  type IsPathSupportedResponse,
  type StartShadowCopySetResponse,
} from "@rvss/proto";
import { channelCredentials, channelOptions, type ClientAuth } from "./credentials";
import { fromServiceError } from "./errors";

type Callback<T> = (err: ServiceError | null, res: T) => void;

export class AgentClient {
  private readonly grpc: ShadowCopyAgentClient;

  constructor(
    readonly address: string,
    readonly svm: string,
    auth: ClientAuth,
  ) {
    this.grpc = new ShadowCopyAgentClient(address, channelCredentials(auth), channelOptions(address));
  }

  private call<Req, Res>(
    method: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown,
    req: Omit<Req, "svm">,
    timeoutMs = 120_000,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(
        this.grpc,
        { svm: this.svm, ...req } as Req,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res: Res) => (err ? reject(fromServiceError(err, this.address)) : resolve(res)),
      );
    });
  }

  getSupportedVersion(): Promise<GetSupportedVersionResponse> {
    return this.call(this.grpc.getSupportedVersion, {});
  }
  async setContext(context: number): Promise<void> {
    await this.call(this.grpc.setContext, { context });
  }
  startShadowCopySet(clientShadowCopySetId: string): Promise<StartShadowCopySetResponse> {
    return this.call(this.grpc.startShadowCopySet, { clientShadowCopySetId });
  }
  addToShadowCopySet(
    shadowCopySetId: string,
    shareName: string,
    clientShadowCopyId = "00000000-0000-0000-0000-000000000001",
  ): Promise<AddToShadowCopySetResponse> {
    return this.call(this.grpc.addToShadowCopySet, { clientShadowCopyId, shadowCopySetId, shareName });
  }
  async prepareShadowCopySet(shadowCopySetId: string, timeoutInMilliseconds = 1_800_000): Promise<void> {
    await this.call(this.grpc.prepareShadowCopySet, { shadowCopySetId, timeoutInMilliseconds });
  }
  async commitShadowCopySet(shadowCopySetId: string, timeoutInMilliseconds = 60_000): Promise<void> {
    await this.call(this.grpc.commitShadowCopySet, { shadowCopySetId, timeoutInMilliseconds });
  }
  async exposeShadowCopySet(shadowCopySetId: string, timeoutInMilliseconds = 60_000): Promise<void> {
    await this.call(this.grpc.exposeShadowCopySet, { shadowCopySetId, timeoutInMilliseconds });
  }
  async recoveryCompleteShadowCopySet(shadowCopySetId: string): Promise<void> {
    await this.call(this.grpc.recoveryCompleteShadowCopySet, { shadowCopySetId });
  }
  async abortShadowCopySet(shadowCopySetId: string): Promise<void> {
    await this.call(this.grpc.abortShadowCopySet, { shadowCopySetId });
  }
  isPathSupported(shareName: string): Promise<IsPathSupportedResponse> {
    return this.call(this.grpc.isPathSupported, { shareName });
  }
  isPathShadowCopied(shareName: string): Promise<IsPathShadowCopiedResponse> {
    return this.call(this.grpc.isPathShadowCopied, { shareName });
  }
  getShareMapping(
    shadowCopyId: string,
    shadowCopySetId: string,
    shareName: string,
    level = 1,
  ): Promise<GetShareMappingResponse> {
    return this.call(this.grpc.getShareMapping, { shadowCopyId, shadowCopySetId, shareName, level });
  }
  async deleteShareMapping(shadowCopySetId: string, shadowCopyId: string, shareName: string): Promise<void> {
    await this.call(this.grpc.deleteShareMapping, { shadowCopySetId, shadowCopyId, shareName });
  }

  close(): void {
    this.grpc.close();
  }
}
