"""Suite-wide settings: no progress bars, no network, an isolated embedding cache per test session."""

from __future__ import annotations

import os

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session starts with an empty embedding cache (tests that measure reuse make their own)."""
    os.environ["HEADSTART_CACHE"] = str(tmp_path_factory.mktemp("headstart-cache"))
