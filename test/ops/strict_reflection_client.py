"""A strict gRPC reflection client (Debian's python3-grpcio and python3-protobuf, no rvss code).

Builds a descriptor pool from what server reflection returns -- the pool refuses a file whose
imports it has not been given -- then describes every service and calls ListBackups dynamically.
Usage: strict_reflection_client.py HOST:PORT REFLECTION_DESCRIPTOR_SET
Prints one JSON object: services, methods, the ListBackups answer.
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def message_class(descriptor):
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def main():
    address, reflection_set = sys.argv[1], sys.argv[2]
    # Like every caller, it presents a client certificate: CA, certificate and key as PEM paths.
    ca, cert, key = (open(p, "rb").read() for p in sys.argv[3:6])
    protocol = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(open(reflection_set, "rb").read()).file:
        protocol.Add(f)
    request_type = message_class(protocol.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest"))
    response_type = message_class(protocol.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse"))
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    channel = grpc.secure_channel(address, credentials)
    info = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )

    def ask(**request):
        response = next(info(iter([request_type(**request)]), timeout=10))
        if response.HasField("error_response"):
            raise SystemExit(f"reflection refused {request}: {response.error_response.error_message}")
        return response

    pool = descriptor_pool.DescriptorPool()
    known = {}

    def learn(serialized_files):
        for raw in serialized_files:
            fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
            known.setdefault(fdp.name, fdp)

    added = set()

    def add(name):
        # Imports first; a file the answers did not carry is asked for by name.
        if name in added:
            return
        if name not in known:
            learn(ask(file_by_filename=name).file_descriptor_response.file_descriptor_proto)
        for dep in known[name].dependency:
            add(dep)
        pool.Add(known[name])
        added.add(name)

    services = sorted(s.name for s in ask(list_services="*").list_services_response.service)
    methods = []
    for service in services:
        files = ask(file_containing_symbol=service).file_descriptor_response.file_descriptor_proto
        learn(files)
        add(descriptor_pb2.FileDescriptorProto.FromString(files[0]).name)
        methods += [f"{service}/{m.name}" for m in pool.FindServiceByName(service).methods]

    method = pool.FindMethodByName("rvss.v1.BackupService.ListBackups")
    call = channel.unary_unary(
        "/rvss.v1.BackupService/ListBackups",
        request_serializer=message_class(method.input_type).SerializeToString,
        response_deserializer=message_class(method.output_type).FromString,
    )
    answer = call(message_class(method.input_type)(svm=""), timeout=10)
    print(
        json.dumps(
            {
                "services": services,
                "methods": methods,
                "files": sorted(added),
                "listBackups": json_format.MessageToDict(answer),
            }
        )
    )


if __name__ == "__main__":
    main()
