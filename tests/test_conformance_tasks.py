"""Every registered task passes :class:`usbench.testing.TaskConformance`.

Parametrised over the entry points of ``usbench.tasks``; each runs its ``smoke`` preset on
12 toy images with :class:`usbench.testing.CopyGenerator` as the generator factory. The
built-in ``classifier_gain`` gets one epoch and no ImageNet weights (not available
offline) to stay fast.
"""

from __future__ import annotations

import pytest

from usbench.registry import registry
from usbench.testing import TaskCase, TaskConformance, registered

FAST = {"classifier_gain": {"pretrained": "false", "epochs": "1"}}


pytestmark = pytest.mark.usefixtures("one_thread")


class TestEveryTask(TaskConformance):
    @pytest.fixture(scope="class", params=registered("tasks"))
    @classmethod
    def case(cls, request) -> TaskCase:
        return TaskCase(registry("tasks").get(request.param), FAST.get(request.param, {}))
