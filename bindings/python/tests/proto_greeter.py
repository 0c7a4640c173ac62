"""Real google.protobuf message classes for the tests, built at run time from a descriptor
(no protoc): ``greeter.HelloRequest {string name = 1; int32 times = 2; bytes blob = 3}`` and
``greeter.HelloReply {string message = 1; repeated string echoes = 2}``."""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _build():
    fdp = descriptor_pb2.FileDescriptorProto(name="micro_tests/greeter.proto", package="greeter", syntax="proto3")
    req = fdp.message_type.add(name="HelloRequest")
    req.field.add(name="name", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    req.field.add(name="times", number=2, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    req.field.add(name="blob", number=3, type=_F.TYPE_BYTES, label=_F.LABEL_OPTIONAL)
    rep = fdp.message_type.add(name="HelloReply")
    rep.field.add(name="message", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    rep.field.add(name="echoes", number=2, type=_F.TYPE_STRING, label=_F.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("greeter.HelloRequest")), get(pool.FindMessageTypeByName("greeter.HelloReply"))


HelloRequest, HelloReply = _build()


def answer(req_bytes: bytes):
    """What the greeters answer: parses a HelloRequest, returns a HelloReply message."""
    req = HelloRequest.FromString(req_bytes)
    return HelloReply(message=f"Hello {req.name} ({len(req.blob)} bytes)", echoes=[req.name] * req.times)
