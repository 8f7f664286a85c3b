"""`headstart ui` against DNS rebinding and over-serving: only loopback Host headers (unless the app was created
for an explicit host), and of a run folder only the report the page links to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headstart.ui import create_app
from headstart.ui.app import host_name


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "r1"
    (run / "model").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"verdict": {"label": "helps"}, "transfer": {}, "baseline": {}}))
    (run / "config.json").write_text(json.dumps({"data": "/home/me/private/data.csv"}))
    (run / "report.html").write_text("<html>REPORT</html>")
    (run / "predictions.csv").write_text("id,prediction\n1,a\n")
    (run / "model" / "head.npz").write_bytes(b"weights")
    return tmp_path / "runs"


@pytest.mark.parametrize("host", ["localhost", "localhost:8765", "127.0.0.1", "127.0.0.1:9", "[::1]", "[::1]:8765"])
def test_loopback_hosts_are_served(runs_dir: Path, host: str) -> None:
    client = TestClient(create_app(runs_dir), base_url=f"http://{host}")
    assert client.get("/api/runs").status_code == 200
    assert client.get("/runs/r1/report.html").text == "<html>REPORT</html>"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "testserver", ""])
def test_other_hosts_are_refused(runs_dir: Path, host: str) -> None:
    client = TestClient(create_app(runs_dir))
    for path in ("/", "/api/runs", "/api/options", "/runs/r1/report.html"):
        r = client.get(path, headers={"host": host})
        assert r.status_code == 400 and "REPORT" not in r.text and "r1" not in r.text, (path, r.text)


def test_an_explicit_host_is_accepted(runs_dir: Path) -> None:
    named = TestClient(create_app(runs_dir, host="lab-box.local"), base_url="http://lab-box.local:8765")
    assert named.get("/api/runs").status_code == 200
    assert named.get("/api/runs", headers={"host": "evil.example"}).status_code == 400
    anywhere = TestClient(create_app(runs_dir, host="0.0.0.0"), base_url="http://192.168.1.20:8765")
    assert anywhere.get("/api/runs").status_code == 200  # the user chose to expose it (the CLI warns)


@pytest.mark.parametrize("file", ["config.json", "metrics.json", "predictions.csv", "model/head.npz"])
def test_only_the_report_of_a_run_is_served(runs_dir: Path, file: str) -> None:
    client = TestClient(create_app(runs_dir), base_url="http://127.0.0.1:8765")
    assert client.get(f"/runs/r1/{file}").status_code == 404
    assert client.get("/runs/r1/").text == "<html>REPORT</html>"


def test_host_header_parsing() -> None:
    assert [host_name(h) for h in ("LocalHost:80", "[::1]:8765", "[::1]", "a.b", "a.b:x")] == [
        "localhost",
        "::1",
        "::1",
        "a.b",
        "a.b:x",
    ]
