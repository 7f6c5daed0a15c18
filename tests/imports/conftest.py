"""The import commands read TALLY_* variables: the developer's own must not leak into the tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_tally_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TALLY_") and not name.startswith("TALLY_TEST_"):
            monkeypatch.delenv(name)
