from __future__ import annotations

import pytest

from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.testing import FakeClock


@pytest.fixture
def ctx() -> WorkflowContext:
    return WorkflowContext(workflow_id="test-workflow")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)
