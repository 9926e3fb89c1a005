#!/usr/bin/env bash
# Regenerates src/sidecarpb from proto/ (the one regeneration command; `make proto`).
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: src). The staleness test passes a temp dir.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/src}"
py="${PYTHON:-$here/.venv/bin/python}"
mkdir -p "$out"
"$py" -m grpc_tools.protoc -I "$here/proto" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  sidecarpb/v1/sidecar.proto
# Packages need an __init__.py; protoc writes none.
touch "$out/sidecarpb/__init__.py" "$out/sidecarpb/v1/__init__.py"
