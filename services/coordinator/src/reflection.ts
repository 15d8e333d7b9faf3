/**
 * gRPC server reflection (v1 and v1alpha) that serves the committed descriptor set's files byte for
 * byte, each with the files it imports. @grpc/reflection rebuilds files from a proto-loader package
 * and answers with one merged file that names no dependencies, which strict clients (Python's
 * descriptor pool, grpcurl describe) reject; its reflection.proto files are still the protocol's.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

interface ReflectionRequest {
  host?: string;
  messageRequest?: string;
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType: string; extensionNumber: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
}

/** The FileDescriptorProtos of a FileDescriptorSet as they were encoded (field 1, repeated). */
function rawFiles(set: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(set);
  const out: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) out.push(reader.bytes());
    else reader.skip(wireType);
  }
  return out;
}

export class DescriptorReflection {
  private readonly bytes = new Map<string, Uint8Array>();
  private readonly imports = new Map<string, string[]>();
  /** Fully qualified symbol (message, enum, service, method, extension) to its file. */
  private readonly symbols = new Map<string, string>();
  private readonly messages = new Set<string>();
  readonly services: string[] = [];

  constructor(descriptorSet: Uint8Array) {
    const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
    rawFiles(descriptorSet).forEach((b, i) => this.bytes.set(set.file[i]!.name!, b));
    for (const f of set.file) this.imports.set(f.name!, f.dependency);
    for (const t of createFileRegistry(set)) {
      const file = t.file.proto.name;
      this.symbols.set(t.typeName, file);
      if (t.kind === "message") this.messages.add(t.typeName);
      if (t.kind === "service") {
        this.services.push(t.typeName);
        for (const m of t.methods) this.symbols.set(`${t.typeName}.${m.name}`, file);
      }
    }
  }

  /** The file first, then every file it imports, directly or not, each once. */
  private withImports(name: string): Buffer[] {
    const order: string[] = [];
    const visit = (n: string): void => {
      if (order.includes(n)) return;
      order.push(n);
      for (const d of this.imports.get(n) ?? []) visit(d);
    };
    visit(name);
    return order.map((n) => Buffer.from(this.bytes.get(n)!));
  }

  answer(req: ReflectionRequest): Record<string, unknown> {
    const base = { validHost: req.host ?? "", originalRequest: req };
    const notFound = (what: string) => ({
      ...base,
      errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: `${what} not found` },
    });
    switch (req.messageRequest) {
      case "listServices":
        return { ...base, listServicesResponse: { service: this.services.map((name) => ({ name })) } };
      case "fileByFilename": {
        const name = req.fileByFilename ?? "";
        if (!this.bytes.has(name)) return notFound(`file "${name}"`);
        return { ...base, fileDescriptorResponse: { fileDescriptorProto: this.withImports(name) } };
      }
      case "fileContainingSymbol": {
        const file = this.symbols.get(req.fileContainingSymbol ?? "");
        if (!file) return notFound(`symbol "${req.fileContainingSymbol}"`);
        return { ...base, fileDescriptorResponse: { fileDescriptorProto: this.withImports(file) } };
      }
      case "fileContainingExtension":
        // The rvss contracts declare no extensions.
        return notFound(
          `extension ${req.fileContainingExtension?.extensionNumber} of "${req.fileContainingExtension?.containingType}"`,
        );
      case "allExtensionNumbersOfType": {
        const type = req.allExtensionNumbersOfType ?? "";
        if (!this.messages.has(type)) return notFound(`message type "${type}"`);
        return { ...base, allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [] } };
      }
      default:
        return {
          ...base,
          errorResponse: {
            errorCode: grpc.status.UNIMPLEMENTED,
            errorMessage: `unknown request ${req.messageRequest}`,
          },
        };
    }
  }

  addToServer(server: grpc.Server): void {
    const protoDir = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto");
    for (const version of ["v1", "v1alpha"]) {
      const def = protoLoader.loadSync(path.join(protoDir, "grpc", "reflection", version, "reflection.proto"), {
        longs: String,
        enums: String,
        oneofs: true,
        includeDirs: [protoDir],
      });
      const pkg = grpc.loadPackageDefinition(def) as unknown as {
        grpc: { reflection: Record<string, { ServerReflection: { service: grpc.ServiceDefinition } }> };
      };
      server.addService(pkg.grpc.reflection[version]!.ServerReflection.service, {
        ServerReflectionInfo: (stream: grpc.ServerDuplexStream<ReflectionRequest, unknown>) => {
          stream.on("data", (req: ReflectionRequest) => stream.write(this.answer(req)));
          stream.on("end", () => stream.end());
        },
      });
    }
  }

  static fromFile(file: string): DescriptorReflection {
    return new DescriptorReflection(fs.readFileSync(file));
  }
}
