// The rvss.v1 contracts, generated from proto/rvss/v1 by ts-proto through buf (`npm run proto:generate`).
// Generated code is committed; test/proto-fresh.test.ts fails when it no longer matches the .proto files.
import * as path from "node:path";

export * from "./gen/rvss/v1/common";
export * from "./gen/rvss/v1/commands";
export * from "./gen/rvss/v1/events";
export * from "./gen/rvss/v1/backup_service";
export * from "./gen/rvss/v1/queries";
export * from "./gen/rvss/v1/shadow_copy_agent";
export * from "./gen/rvss/v1/writer";
export * from "./gen/rvss/v1/preflight_service";
export * from "./gen/rvss/v1/errors";
export { Status } from "./gen/google/rpc/status";
export { Any } from "./gen/google/protobuf/any";
export { STATUS_DETAILS_TRAILER, decodeErrorStatus, encodeErrorStatus } from "./error-status";
export * from "./gen/rvss/v1/server_info";
export * from "./gen/rvss/v1/schedule_service";

/** Binary FileDescriptorSet of proto/ (for gRPC server reflection). */
export const descriptorSetPath = path.join(__dirname, "..", "descriptor.binpb");
