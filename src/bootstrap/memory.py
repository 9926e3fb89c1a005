"""Available memory for the default cache bound (caching-and-redis.md §2.1, our choice)."""
from __future__ import annotations

import os
from pathlib import Path

_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cgroup_limit_bytes() -> int | None:
    for name in _CGROUP_FILES:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def available_memory_bytes() -> int:
    """The cgroup memory limit when set and below physical memory, else physical memory."""
    physical = physical_memory_bytes()
    limit = cgroup_limit_bytes()
    return limit if limit is not None and limit < physical else physical


def default_cache_bytes() -> int:
    """50% of available memory (documented default)."""
    return available_memory_bytes() // 2
