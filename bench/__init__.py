"""Benchmarks of the sidecar against a no-op gRPC floor (see bench/README.md)."""
from bootstrap import grpc_runtime

# Every bench process (the floor, the in-process tools) runs grpc as the sidecar does:
# GRPC_EXPERIMENTS is read when grpc is first imported, so before any bench module.
grpc_runtime.prepare()
