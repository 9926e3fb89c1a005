"""Smoke run of the benchmark suite (bench/): every code path for a fraction of a second,
so the suite does not rot. No thresholds: benchmarks are never timed assertions here —
the only checks are that each part ran and produced its outputs."""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from bench import load, procs, report, run
from sidecarpb.v1 import sidecar_pb2 as pb


def test_smoke_run_covers_every_part(tmp_path: Path) -> None:
    assert run.main(["--smoke", "--results", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("### Benchmark run")
    measured = {s["name"] for s in results["scenarios"]}
    expected = {s.name for s in run.scenarios()} - set(results["skipped"])
    assert measured == expected
    assert set(results["skipped"]) <= {"hit_redis_metered"}  # only Redis may be missing
    for scenario in results["scenarios"]:
        for cell in scenario["runs"]:
            for side in ("floor", "sidecar"):
                assert cell[side]["requests"] > 0, (scenario["name"], side)
                assert cell[side]["failed"] == 0, (scenario["name"], side)
            assert cell["sidecar_counters"]["calls_not_ok"] == 0
            assert set(cell["ratios"]) == {"throughput", "p50", "p99", "p999", "cpu_per_call"}
    noise = results["method_noise"]  # the A/A cell: the floor against its twin
    assert [run["concurrency"] for run in noise["runs"]] == results["config"]["concurrencies"]
    for cell in noise["runs"]:
        assert cell["floor"]["requests"] > 0 and cell["twin"]["requests"] > 0
        assert cell["floor"]["failed"] == cell["twin"]["failed"] == 0
    assert "Method noise (A/A)" in (tmp_path / "latest.md").read_text()
    assert results["single_flight"]["ok"] == results["single_flight"]["calls"]
    memory = results["memory"]
    assert memory["fill"]["entries"] == memory["customers"]
    assert memory["overhead_factor_calibrated"] > 0
    assert {b["label"] for b in memory["bounds"]} == {"current", "calibrated"}
    serialized = memory["serialized"]
    # Our own cache JSON is smaller than upstream's (no __typename, nulls or status).
    assert 0 < serialized["cache_json_bytes"] < serialized["upstream_json_bytes"]
    assert results["targets"], "the targets table is computed"
    verdicts = {row["target"]: row["verdict"] for row in results["targets"]}
    context = [t for t in verdicts if "GetEntitlementsStateV2" in t]
    assert context and all(verdicts[t] == "info" for t in context)


@pytest.fixture
def floor_server(tmp_path: Path):
    answer = pb.GetBooleanEntitlementResponse(has_access=True)
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps(
        {"GetBooleanEntitlement": base64.b64encode(answer.SerializeToString()).decode()}))
    child = procs.start("floor", [sys.executable, "-m", "bench.floor", "--responses",
                                  str(responses)], procs.python_env(), "Floor is ready", tmp_path)
    try:
        yield child, len(answer.SerializeToString())
    finally:
        child.stop()


def _target(floor_server) -> load.Target:
    child, size = floor_server
    request = pb.GetBooleanEntitlementRequest(customer_id="c", feature_id="f").SerializeToString()
    return load.Target(child.ready["grpc_port"], "GetBooleanEntitlement", request, size)


def test_python_clients_drive_the_floor(floor_server) -> None:
    generator = load.PythonClients(processes=2)
    try:
        result = generator.run(_target(floor_server), 4, 0.05, 0.2, floor_server[0].pid)
    finally:
        generator.close()
    assert result.requests > 0 and result.failed == 0
    assert result.server_cpu_s >= 0 and result.p50_us <= result.p99_us <= result.p999_us


@pytest.mark.skipif(load.h2load_path() is None, reason="h2load (nghttp2-client) not installed")
def test_h2load_drives_the_floor(floor_server) -> None:
    result = load.H2Load().run(_target(floor_server), 4, 0.05, 0.2, floor_server[0].pid)
    assert result.requests > 0 and result.failed == 0


def test_the_a_a_cell_is_reported_as_info_at_the_target_concurrencies() -> None:
    def cell(concurrency: int, ratio: float) -> dict:
        return {"concurrency": concurrency, "noise": {"round_throughput_ratios": [ratio]},
                "ratios": {"throughput": ratio, "p99": 1.0, "cpu_per_call": 1.0}}

    results = {"method_noise": {"scenario": "hit_memory_metered",
                                "runs": [cell(1, 0.99), cell(8, 1.02), cell(64, 0.97)]}}
    rows = report.targets(results)
    assert [(row["measured"], row["verdict"]) for row in rows] == [(1.02, "info"), (0.97, "info")]
    assert all("method noise" in row["target"] for row in rows)
    text = report.markdown(results | {"targets": rows})
    assert "Method noise (A/A)" in text and "c=1 0.99× throughput" in text
    assert "Method noise" not in report.markdown({})  # no A/A cell, no line


def test_markdown_of_an_empty_run_is_well_formed() -> None:
    text = report.markdown({"machine": {}, "config": {}, "scenarios": [], "skipped": {}})
    assert text.startswith("### Benchmark run")


def test_instruction_counts_are_read_from_the_run_dump(tmp_path: Path) -> None:
    from bench import instructions

    (tmp_path / "callgrind.42.1").write_text(
        "version: 1\ndesc: Trigger: dump run\nevents: Ir I1mr D1mr\nsummary: 6000 30 20\n")
    (tmp_path / "callgrind.42").write_text(
        "desc: Trigger: Program termination\nevents: Ir\nsummary: 5\n")
    events = instructions._events(tmp_path, 42)
    assert events == {"Ir": 6000, "I1mr": 30, "D1mr": 20}
    line = instructions._report("hit", 8, {"floor": {"Ir": 3000.0, "I1mr": 10, "D1mr": 10},
                                           "sidecar": {"Ir": 3150.0, "I1mr": 11, "D1mr": 12}})
    assert "1.050×" in line and "D1mr 10 / 12 (1.20×)" in line
    with pytest.raises(RuntimeError, match="no callgrind dump"):
        instructions._events(tmp_path, 7)
