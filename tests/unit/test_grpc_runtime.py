"""GRPC_EXPERIMENTS defaults (bootstrap.grpc_runtime) and the import-order rule."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bootstrap import grpc_runtime


def test_the_default_is_set_when_the_operator_set_nothing() -> None:
    environ: dict[str, str] = {}
    assert grpc_runtime.prepare(environ) == "-event_engine_listener"
    assert environ == {"GRPC_EXPERIMENTS": "-event_engine_listener"}


@pytest.mark.parametrize("given", ["", "event_engine_listener", "-foo,bar"])
def test_an_operator_value_is_kept_as_given(given: str) -> None:
    environ = {"GRPC_EXPERIMENTS": given}
    assert grpc_runtime.prepare(environ) == given
    assert environ == {"GRPC_EXPERIMENTS": given}


def test_too_late_is_an_error_not_a_silent_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import grpc  # noqa: F401 - the tests have imported it already; make it explicit

    monkeypatch.delenv("GRPC_EXPERIMENTS", raising=False)
    with pytest.raises(RuntimeError, match="imported before"):
        grpc_runtime.prepare()


def test_the_entry_point_imports_no_grpc_before_it_prepares() -> None:
    """What ``sidecar_main`` imports before ``prepare()`` (the module and settings
    loading) must leave grpc unimported, or the default would not apply."""
    probe = ("import sys, json; import bootstrap.__main__; "
             "from bootstrap.settings import load_sidecar_settings; "
             "print(json.dumps(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('grpc.'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
