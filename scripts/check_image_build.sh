#!/usr/bin/env bash
# Runs the Dockerfile's build steps without Docker (no engine on CI machines): install the
# project with the pinned constraints into a fresh venv, as the image does, and check that
# both console scripts are there and the package imports without its dev tools.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/pyproject.toml" "$here/constraints.txt" "$here/README.md" "$here/src" "$work/"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-cache-dir -c "$work/constraints.txt" "$work" 2>&1 | grep -v "WARNING: Location" || true
for script in stigg-sidecar stigg-persistent-cache; do
  test -x "$work/venv/bin/$script" || { echo "missing console script: $script" >&2; exit 1; }
done
cd "$work" && "$work/venv/bin/python" -c "import bootstrap.__main__, bootstrap.app, sidecarpb.v1.sidecar_pb2"
echo "image build steps OK"
