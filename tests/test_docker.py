"""The Docker image builds — checked only where a Docker engine answers (`docker info` succeeds);
elsewhere skipped with the reason printed. The Dockerfile's promises are checked everywhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_promises():
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("USER ") and line != "USER root" for line in lines)
    assert "HEALTHCHECK" in DOCKERFILE and "/_stcore/health" in DOCKERFILE
    assert "pip install -r requirements.txt" in DOCKERFILE and "requirements-dev" not in DOCKERFILE
    # several server processes behind one port (serve.py, README "Host it for your team")
    cmd = [line for line in lines if line.startswith("CMD ")][-1]  # the last: HEALTHCHECK's is a CMD too
    assert cmd.startswith('CMD ["python", "serve.py"') and "--address=0.0.0.0" in cmd and "--port=8501" in cmd
    assert any(line.startswith("COPY ") and "serve.py" in line.split() for line in lines)
    assert "--workers=1" not in cmd and "--workers" not in cmd  # default: the CPUs the container may use
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    assert "secrets.toml" in ignored and ".venv" in ignored


def _engine_reason() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"docker info failed, no engine answers ({last[:200]})"
    return None


def test_docker_image_builds():
    reason = _engine_reason()
    if reason:
        print(f"SKIP docker build: {reason}")
        pytest.skip(reason)
    built = subprocess.run(["docker", "build", "-q", "-t", "boundary:test", str(ROOT)],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", "boundary:test"],
                          capture_output=True, text=True, timeout=60)
    assert user.stdout.strip() not in ("", "root", "0")
