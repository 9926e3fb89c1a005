"""Benchmarks of the sidecar against a no-op gRPC floor (see bench/README.md)."""
