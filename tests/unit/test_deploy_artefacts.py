"""Deployment artefacts parse and agree with the sidecar's defaults (no Docker engine or
cluster here: the image's build steps run as scripts/check_image_build.sh, marked slow)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"] if doc["kind"] == "Deployment" else []


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_parse_and_probe_the_right_paths(path: Path) -> None:
    docs = _documents(path)
    assert docs and all({"apiVersion", "kind", "metadata", "spec"} <= set(d) for d in docs)
    for doc in docs:
        for container in _containers(doc):
            if "stigg" not in container["image"]:
                continue
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            liveness = container["livenessProbe"]["httpGet"]
            assert liveness["path"] == "/livez" and liveness["port"] in ports
            ready = container["readinessProbe"]
            assert ready.get("httpGet", {}).get("path", "/readyz") == "/readyz"
            assert container["securityContext"]["runAsNonRoot"] is True
            env = {e["name"] for e in container["env"]}
            assert "SERVER_API_KEY" in env and "valueFrom" in next(
                e for e in container["env"] if e["name"] == "SERVER_API_KEY")


def test_compose_file_parses_with_the_whole_stack() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert {"emulator", "redis", "persistent-cache", "sidecar"} <= set(compose["services"])


def test_dockerfile_is_non_root_with_both_scripts() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text and 'ENTRYPOINT ["stigg-sidecar"]' in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "stigg-sidecar =" in pyproject and "stigg-persistent-cache =" in pyproject


@pytest.mark.slow
def test_image_build_steps_run_without_docker() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "check_image_build.sh")], capture_output=True,
                          text=True, timeout=500)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "image build steps OK" in done.stdout
