/**
 * @rvss/client: a typed, promise-based client of the coordinator's gRPC API. Errors come back as
 * RvssError with the server's stable code and details (FsrvpError, with the HRESULT, from AgentClient).
 */
import { Metadata, type CallOptions, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { ErrorCodes, RvssError } from "@rvss/core";
import { channelCredentials, channelOptions, type ClientAuth } from "./credentials";
import { fromServiceError } from "./errors";
import {
  BackupServiceClient,
  WriterErrorPolicy,
  PreflightServiceClient,
  ServerInfoServiceClient,
  ScheduleServiceClient,
  type Backup,
  type CreateBackupRequest,
  type CreateScheduleRequest,
  type GetServerInfoResponse,
  type ListBackupsRequest,
  type ListSnapshotsRequest,
  type RestoreRecord,
  type Schedule,
  type RestoreRequest,
  type RestoreResponse,
  type ShareCheck,
  type ShareSelection,
  type VolumeSnapshot,
  type WatchBackupResponse,
} from "@rvss/proto";

export { fromServiceError } from "./errors";
export { channelCredentials, channelOptions, type ClientAuth } from "./credentials";

/** A dataset item; `vms` may be left out. */
export type DatasetItem = Omit<ShareSelection, "vms"> & Partial<Pick<ShareSelection, "vms">>;

function toSelection(d: DatasetItem): ShareSelection {
  return { ...d, vms: d.vms ?? [] };
}

type Callback<T> = (err: ServiceError | null, res: T) => void;
type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown;

/** One unary call on a grpc-js client, with a deadline; errors come back as RvssError. */
function callUnary<Req, Res>(
  target: object,
  address: string,
  method: UnaryMethod<Req, Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(
      target,
      req,
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err: ServiceError | null, res: Res) => (err ? reject(fromServiceError(err, address)) : resolve(res)),
    );
  });
}

/** Where the coordinator listens and how to prove who calls; entry points take both from `loadConfig`. */
export interface ClientOptions {
  /** host:port of the coordinator's gRPC API. */
  address: string;
  /** A client certificate, a bearer token, or plaintext for a server with RVSS_AUTH=off. */
  auth: ClientAuth;
}

export class RvssClient {
  private readonly grpc: BackupServiceClient;
  private readonly info: ServerInfoServiceClient;
  readonly address: string;

  constructor(options: ClientOptions) {
    this.address = options.address;
    const creds = channelCredentials(options.auth);
    this.grpc = new BackupServiceClient(this.address, creds, channelOptions(this.address));
    this.info = new ServerInfoServiceClient(this.address, creds, channelOptions(this.address));
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, timeoutMs = 30_000): Promise<Res> {
    return callUnary(this.grpc, this.address, method, req, timeoutMs);
  }

  /** Waits until the coordinator accepts connections. */
  waitForReady(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.grpc.waitForReady(Date.now() + timeoutMs, (err) =>
        err
          ? reject(
              new RvssError(
                ErrorCodes.UNAVAILABLE,
                `the rvss coordinator at ${this.address} did not answer within ${timeoutMs} ms`,
                { address: this.address },
              ),
            )
          : resolve(),
      ),
    );
  }

  async createBackup(req: Partial<Omit<CreateBackupRequest, "dataset">> & { dataset: DatasetItem[] }): Promise<Backup> {
    const res = await this.call(this.grpc.createBackup, {
      dataset: req.dataset.map(toSelection),
      requestId: req.requestId ?? "",
      description: req.description ?? "",
      onWriterError: req.onWriterError ?? WriterErrorPolicy.WRITER_ERROR_POLICY_UNSPECIFIED,
      name: req.name ?? "",
      labels: req.labels ?? {},
      ttl: req.ttl ?? "",
      keepLast: req.keepLast ?? 0,
    });
    return res.backup!;
  }

  /** `backup`: its ID, its name or a unique ID prefix (as for cancel, delete and restore). */
  async getBackup(backup: string): Promise<Backup> {
    return (await this.call(this.grpc.getBackup, { backupId: backup })).backup!;
  }

  /** Backups, newest first: not deleted ones unless `all`, filtered by SVM, schedule and label selector. */
  async listBackups(filter: Partial<ListBackupsRequest> = {}): Promise<Backup[]> {
    return (await this.call(this.grpc.listBackups, { svm: "", all: false, schedule: "", labelSelector: "", ...filter }))
      .backups;
  }

  async cancelBackup(backup: string): Promise<Backup> {
    return (await this.call(this.grpc.cancelBackup, { backupId: backup })).backup!;
  }

  /** Starts deleting the backup's snapshots; the backup returned is DELETING (or DELETED when it had none). */
  async deleteBackup(backup: string): Promise<Backup> {
    return (await this.call(this.grpc.deleteBackup, { backupId: backup })).backup!;
  }

  /** Removes an rvss snapshot no backup owns; false when it was gone already. */
  async deleteSnapshot(req: { svm: string; volume: string; name: string }): Promise<boolean> {
    return (await this.call(this.grpc.deleteSnapshot, req, 60_000)).deleted;
  }

  async listRestores(backup = ""): Promise<RestoreRecord[]> {
    return (await this.call(this.grpc.listRestores, { backupId: backup })).restores;
  }

  async getRestore(restoreId: string): Promise<RestoreRecord> {
    return (await this.call(this.grpc.getRestore, { restoreId })).restore!;
  }

  async listSnapshots(req: Partial<ListSnapshotsRequest> = {}): Promise<VolumeSnapshot[]> {
    return (await this.call(this.grpc.listSnapshots, { svm: "", volume: "", backupId: "", ...req })).snapshots;
  }

  restore(
    req: Partial<RestoreRequest> & Pick<RestoreRequest, "backupId" | "target">,
    timeoutMs = 30 * 60_000,
  ): Promise<RestoreResponse> {
    return this.call(this.grpc.restore, { svm: "", share: "", files: [], overwrite: false, ...req }, timeoutMs);
  }

  /** The backup's events from its start until it finishes, each with the backup as it stands. */
  async *watchBackup(backupId: string): AsyncGenerator<WatchBackupResponse> {
    const stream: ClientReadableStream<WatchBackupResponse> = this.grpc.watchBackup({ backupId });
    try {
      for await (const msg of stream) yield msg as WatchBackupResponse;
    } catch (err) {
      throw fromServiceError(err as ServiceError, this.address);
    } finally {
      stream.cancel();
    }
  }

  /** The coordinator's rvss version and its NATS server's. */
  serverInfo(timeoutMs = 10_000): Promise<GetServerInfoResponse> {
    return callUnary(this.info, this.address, this.info.getServerInfo, {}, timeoutMs);
  }

  close(): void {
    this.grpc.close();
    this.info.close();
  }
}

export { AgentClient } from "./agent";

/** A client of the coordinator's ScheduleService: cron schedules of managed backups. */
export class ScheduleClient {
  private readonly grpc: ScheduleServiceClient;
  readonly address: string;

  constructor(options: ClientOptions) {
    this.address = options.address;
    this.grpc = new ScheduleServiceClient(this.address, channelCredentials(options.auth), channelOptions(this.address));
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req): Promise<Res> {
    return callUnary(this.grpc, this.address, method, req, 30_000);
  }

  async create(
    req: Partial<Omit<CreateScheduleRequest, "dataset">> &
      Pick<CreateScheduleRequest, "name" | "cron"> & {
        dataset: DatasetItem[];
      },
  ): Promise<Schedule> {
    const full: CreateScheduleRequest = {
      timezone: "",
      description: "",
      ttl: "",
      keepLast: 0,
      onWriterError: WriterErrorPolicy.WRITER_ERROR_POLICY_UNSPECIFIED,
      paused: false,
      ...req,
      dataset: req.dataset.map(toSelection),
    };
    return (await this.call(this.grpc.createSchedule, full)).schedule!;
  }

  async get(name: string): Promise<Schedule> {
    return (await this.call(this.grpc.getSchedule, { name })).schedule!;
  }

  async list(): Promise<Schedule[]> {
    return (await this.call(this.grpc.listSchedules, {})).schedules;
  }

  async pause(name: string): Promise<Schedule> {
    return (await this.call(this.grpc.pauseSchedule, { name })).schedule!;
  }

  async unpause(name: string): Promise<Schedule> {
    return (await this.call(this.grpc.unpauseSchedule, { name })).schedule!;
  }

  async delete(name: string): Promise<void> {
    await this.call(this.grpc.deleteSchedule, { name });
  }

  /** Starts a backup of the schedule now; returns its ID. */
  async runNow(name: string): Promise<string> {
    return (await this.call(this.grpc.runSchedule, { name })).backupId;
  }

  close(): void {
    this.grpc.close();
  }
}

/** A client of the coordinator's PreflightService: checks shares before a backup window, clones nothing. */
export class PreflightClient {
  private readonly grpc: PreflightServiceClient;
  readonly address: string;

  constructor(options: ClientOptions) {
    this.address = options.address;
    this.grpc = new PreflightServiceClient(
      this.address,
      channelCredentials(options.auth),
      channelOptions(this.address),
    );
  }

  /** Walks one share and checks it; the answer lists every violation. */
  async validateShare(share: DatasetItem, timeoutMs = 10 * 60_000): Promise<ShareCheck> {
    return (await callUnary(this.grpc, this.address, this.grpc.validateShare, { share: toSelection(share) }, timeoutMs))
      .check!;
  }

  /** Checks every share of a dataset, and that no VM has files in two of them; one check per item. */
  async validateDataset(dataset: DatasetItem[], timeoutMs = 10 * 60_000): Promise<ShareCheck[]> {
    return (
      await callUnary(
        this.grpc,
        this.address,
        this.grpc.validateDataset,
        { dataset: dataset.map(toSelection) },
        timeoutMs,
      )
    ).checks;
  }

  close(): void {
    this.grpc.close();
  }
}
