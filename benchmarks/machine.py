"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import os
import platform
from typing import Any


def describe_machine(**extra: Any) -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo where there is one), cores, Python and platform.

    ``extra`` adds what one benchmark also depends on (package or server versions).
    """
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        **extra,
    }
