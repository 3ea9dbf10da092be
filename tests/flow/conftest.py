from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.flow.harness import Harness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "calendar_off: the bot's calendar is not started (the test runs its jobs)"
    )


@pytest.fixture
async def bot(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, calendar=request.node.get_closest_marker("calendar_off") is None)
    await harness.start()
    yield harness
    await harness.stop()
