"""What every benchmark prints: the machine and the command, so a figure can be reproduced."""

from __future__ import annotations

import os
import platform
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka.admin import AdminClient

from streams.kafka_admin import ensure_topics
from streams.settings import Settings, load_settings
from streams.topics import ALL_TOPICS


def machine() -> str:
    """CPU model, cores, memory and Python version."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, Python {platform.python_version()}"


def header(title: str, module: str) -> None:
    """Print the benchmark's title, machine and command line (run from the repository root)."""
    print(f"# {title}")
    print(f"machine: {machine()}")
    print(f"command: {' '.join([os.path.relpath(sys.executable), '-m', module, *sys.argv[1:]])}")


@contextmanager
def private_topics() -> Iterator[Settings]:
    """Settings with a private prefix whose declared topics exist for the run; removed afterwards."""
    settings = load_settings().model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    ensure_topics(settings, ALL_TOPICS)
    try:
        yield settings
    finally:
        admin = AdminClient(settings.kafka_client_config())
        names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(settings.topic_prefix)]
        for future in admin.delete_topics(names).values():
            future.result(timeout=60)
