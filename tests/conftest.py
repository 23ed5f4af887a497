"""Test-wide set-up: a private speech cache and journal for the whole run (shared by its tests)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_speech_cache(tmp_path_factory):
    """Never touch the user's cache; tests that need an empty cache make their own."""
    old = os.environ.get("VOICECOACH_CACHE_DIR")
    os.environ["VOICECOACH_CACHE_DIR"] = str(tmp_path_factory.mktemp("speech-cache"))
    yield
    if old is None:
        os.environ.pop("VOICECOACH_CACHE_DIR", None)
    else:
        os.environ["VOICECOACH_CACHE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def _private_journal(tmp_path_factory):
    """Plays in tests are recorded in a journal of the run's own, never the user's."""
    old = os.environ.get("VOICECOACH_DATA_DIR")
    os.environ["VOICECOACH_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    yield
    if old is None:
        os.environ.pop("VOICECOACH_DATA_DIR", None)
    else:
        os.environ["VOICECOACH_DATA_DIR"] = old
