"""The committed generated code matches what `make proto` produces from proto/."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)],
        check=True,
        env=dict(os.environ, PYTHON=sys.executable),
    )
    committed = ROOT / "src" / "sidecarpb"
    fresh = tmp_path / "sidecarpb"
    names = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    assert names, "generation produced nothing"
    stale = [n for n in names if not (committed / n).exists()
             or not filecmp.cmp(committed / n, fresh / n, shallow=False)]
    assert not stale, f"regenerate with `make proto`: stale {stale}"


def test_generated_package_is_not_named_stigg() -> None:
    import sidecarpb.v1.sidecar_pb2 as pb

    assert pb.DESCRIPTOR.package == "stigg.sidecar.v1"
    assert pb.__name__.split(".")[0] != "stigg"
