"""Shared fixtures."""

from __future__ import annotations

import pytest

from streams.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings the test command runs with (the local stack's defaults unless overridden)."""
    return load_settings()
