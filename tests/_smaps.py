"""How much of a file's mappings is resident in this process (``/proc/self/smaps``)."""

from __future__ import annotations

import os

HAS_SMAPS = os.path.exists("/proc/self/smaps")


def resident_kb(path) -> int:
    """Resident kB of the mappings of ``path`` in this process."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                inside = line.rstrip().endswith(str(path))
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total
