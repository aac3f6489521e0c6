"""Server reflection in both versions tools ask for: ``grpc.reflection.v1`` and ``v1alpha``.

grpcio-reflection (up to 1.85, the newest) serves only v1alpha. The v1 protocol is the same
messages, field for field, under another package name, so the v1alpha servicer answers v1 calls
too: its messages parse and serialize the v1 wire bytes unchanged. The v1 file descriptor is
v1alpha's with the package renamed, added to the pool so that reflection describes the v1
service like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["SERVICE_NAMES", "V1_SERVICE_NAME", "enable_reflection"]

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
# Both reflection services, as reflection lists them.
SERVICE_NAMES = (V1_SERVICE_NAME, reflection.SERVICE_NAME)

_V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serves reflection v1 and v1alpha on ``server``, listing ``service_names`` and both."""
    _add_v1_descriptor(descriptor_pool.Default())
    servicer = reflection.aio.ReflectionServicer([*service_names, *SERVICE_NAMES])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    handler = grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": info})
    server.add_generic_rpc_handlers((handler,))


def _add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Adds grpc/reflection/v1/reflection.proto to ``pool`` unless it holds it already."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    file_pb = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file_pb)
    file_pb.name = _V1_FILE
    file_pb.package = _V1_PACKAGE
    old, new = f".{_V1ALPHA_PACKAGE}.", f".{_V1_PACKAGE}."
    for message_pb in file_pb.message_type:
        for field_pb in message_pb.field:
            if field_pb.HasField("type_name"):
                field_pb.type_name = field_pb.type_name.replace(old, new, 1)
    for service_pb in file_pb.service:
        for method_pb in service_pb.method:
            method_pb.input_type = method_pb.input_type.replace(old, new, 1)
            method_pb.output_type = method_pb.output_type.replace(old, new, 1)
    # The options upstream's v1 file declares.
    file_pb.options.Clear()
    file_pb.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    file_pb.options.java_multiple_files = True
    file_pb.options.java_package = "io.grpc.reflection.v1"
    file_pb.options.java_outer_classname = "ServerReflectionProto"
    pool.AddSerializedFile(file_pb.SerializeToString())
