"""Users never see a traceback: `client.showErrorDetails = "none"` in .streamlit/config.toml (which
the Docker image copies and its command line repeats). An unexpected error — the reported case was a
corrupt .xlsx — shows Streamlit's generic message; the exception, its text and the server paths in
it go to the server log only."""

from __future__ import annotations

import tomllib
from pathlib import Path

from streamlit.config import ShowErrorDetailsConfigOptions
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_config_turns_error_details_off_in_the_repo_and_the_image():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == ShowErrorDetailsConfigOptions.NONE.value == "none"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY .streamlit/config.toml .streamlit/config.toml" in dockerfile
    assert "--client.showErrorDetails=none" in dockerfile  # kept even if another config.toml is mounted


def test_an_unexpected_error_shows_no_traceback_or_server_path(tmp_path, monkeypatch):
    script = tmp_path / "boom.py"
    script.write_text("import zipfile, io\n"
                      "zipfile.ZipFile(io.BytesIO(b'PK corrupt'), 'r')  # as a corrupt .xlsx does\n"
                      "open('/srv/boundary/private/upload.xlsx')\n", encoding="utf-8")
    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working directory
    at = AppTest.from_file(str(script)).run()
    assert len(at.exception) == 1
    shown = at.exception[0]
    assert shown.stack_trace == []
    assert "redacted" in shown.message
    assert "BadZipFile" not in shown.message and str(tmp_path) not in shown.message
    assert "BadZipFile" not in str(shown.proto)  # not even the exception type reaches the browser
