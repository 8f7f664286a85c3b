"""`headstart ui`: the JSON API (TestClient) and an end-to-end check in headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headstart.advise import advise
from headstart.ui import create_app

CHROMIUM = "/usr/bin/chromium"


def _fake_run(root: Path, name: str, label: str = "helps") -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data": "builtin:digits", "started": "2024-05-01T10:00:00+0000"}))
    metrics = {
        "transfer": {"name": "linear-probe", "strategy": "linear-probe", "backbone": "mobilenetv2", "accuracy": 0.91},
        "baseline": {"name": "pixel-logreg", "accuracy": 0.85},
        "verdict": {"label": label, "delta": 0.06, "ci_low": 0.02, "ci_high": 0.1, "sentence": "Transfer helps."},
        "data": {"source": "builtin:digits"},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "report.html").write_text("<html><body>REPORT OK</body></html>")
    return run


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    _fake_run(root, "digits-probe")
    (root / "half-done.partial").mkdir()  # not a complete run: not listed
    (tmp_path / "secret.txt").write_text("do not serve")
    return root


def test_advise_endpoint_is_the_python_rubric(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir))
    for args in ((10, "high", "cpu"), (800, "medium", "single-gpu"), (9000, "low", "multi-gpu")):
        r = client.get(
            "/api/advise", params=dict(zip(("labels_per_class", "similarity", "compute"), args, strict=True))
        )
        assert r.status_code == 200
        assert r.json() == advise(*args).to_dict()
    r = client.get(
        "/api/advise",
        params={"labels_per_class": 20, "similarity": "low", "compute": "cpu", "unlabeled_target": "true"},
    )
    assert r.json()["strategy"] == "domain-adaptation"
    bad = client.get("/api/advise", params={"labels_per_class": 10, "similarity": "huge", "compute": "cpu"})
    assert bad.status_code == 422 and "similarity" in bad.json()["error"]


def test_page_and_options_are_offline(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir))
    page = client.get("/").text
    assert "<script>" in page and "<style>" in page
    assert "http://" not in page and "https://" not in page  # no CDN assets
    opts = client.get("/api/options").json()
    assert opts["similarities"] == ["low", "medium", "high"] and opts["compute"][0] == "cpu"


def test_runs_listing_and_report_serving(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir))
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["digits-probe"]
    run = runs[0]
    assert run["verdict"] == "helps" and run["transfer_accuracy"] == 0.91 and run["date"].startswith("2024-05-01")
    assert client.get(run["report"]).text.count("REPORT OK") == 1
    assert client.get("/runs/digits-probe/../../secret.txt").status_code == 404
    assert client.get("/runs/..%2Fsecret.txt/x").status_code == 404
    assert client.get("/runs/nope/report.html").status_code == 404


def test_ui_command_warns_when_not_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from headstart.cli import app

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    result = CliRunner().invoke(app, ["ui", "--runs", str(tmp_path), "--host", "0.0.0.0", "--port", "9"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and calls[0]["host"] == "0.0.0.0"
    result = CliRunner().invoke(app, ["ui", "--runs", str(tmp_path)])
    assert "warning" not in result.output and calls[1]["host"] == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(runs_dir: Path) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runs_dir), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_browser_call_updates_live(live_server: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"headless Chromium not found at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(live_server + "/")
            strategy = page.locator("#strategy")
            sync_api.expect(strategy).to_have_text("linear-probe")  # 40 labels, high similarity, cpu
            page.fill("#lpc", "9000")
            page.locator("#compute label", has_text="multi-gpu").click()
            page.locator("#similarity label", has_text="low").click()
            sync_api.expect(strategy).to_have_text("scratch")
            sync_api.expect(page.locator("#command")).to_have_text("headstart fit DATA --ship baseline")
            page.screenshot(path=str(tmp_path / "advisor.png"))
            page.click("#tab-runs")
            sync_api.expect(page.locator("#runs-body tr")).to_have_count(1)
            sync_api.expect(page.locator("#runs-body")).to_contain_text("helps")
            with page.context.expect_page() as report:
                page.click("#runs-body a")
            sync_api.expect(report.value.locator("body")).to_have_text("REPORT OK")
        finally:
            browser.close()
