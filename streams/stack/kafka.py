"""The local single-node KRaft Kafka broker: jars from Maven Central, config from deploy/kafka/.

`deploy/kafka/server.properties` is the shipped config. At start it is rendered to
`<home>/kafka/server.properties` with the configured ports and the absolute data directory, the
storage is formatted on first start, and the broker runs from the jars in `<home>/kafka/libs`
(fetched by `make kafka-jars` from `deploy/kafka/pom.xml`).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from streams.errors import StackError
from streams.settings import Settings
from streams.stack.process import Service

# Keys the renderer owns; everything else in the shipped file is kept as written.
_RENDERED_KEYS = ("listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs")
_QUIET = logging.getLogger("riskalert.stack.kafka-health")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def kafka_dir(settings: Settings) -> Path:
    """`<home>/kafka`: libs, data, rendered config, cluster id."""
    return settings.home / "kafka"


def render_server_properties(template: str, settings: Settings) -> str:
    """The shipped server.properties with ports and data directory filled in from settings."""
    values = {
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{settings.kafka_port},CONTROLLER://127.0.0.1:{settings.kafka_controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{settings.kafka_port}",
        "controller.quorum.voters": f"1@127.0.0.1:{settings.kafka_controller_port}",
        "log.dirs": str(kafka_dir(settings) / "data"),
    }
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and key in values:
            line = f"{key}={values.pop(key)}"
        lines.append(line)
    if values:
        missing = ", ".join(values)
        raise StackError(f"deploy/kafka/server.properties lacks required keys: {missing}")
    return "\n".join(lines) + "\n"


def kafka_service(settings: Settings) -> Service:
    """The broker as a background service of `riskalert stack`."""
    base = kafka_dir(settings)
    config = base / "server.properties"
    argv = [
        "java",
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{settings.deploy_dir / 'kafka' / 'log4j.properties'}",
        "-cp",
        f"{base / 'libs'}/*",
        "kafka.Kafka",
        str(config),
    ]
    return Service(
        name="kafka",
        port=settings.kafka_port,
        argv=argv,
        marker=str(config),
        run_dir=base,
        health=lambda: broker_answers(f"127.0.0.1:{settings.kafka_port}"),
        prepare=lambda: prepare_kafka(settings),
        start_timeout_seconds=90.0,
    )


def prepare_kafka(settings: Settings) -> None:
    """Check the jars, render the config and format the storage on first start."""
    base = kafka_dir(settings)
    libs = base / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise StackError(f"Kafka jars are missing from {libs}: run `make kafka-jars` (or `make setup`)")
    template = (settings.deploy_dir / "kafka" / "server.properties").read_text()
    config = base / "server.properties"
    config.write_text(render_server_properties(template, settings))
    data = base / "data"
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    cluster_id = _cluster_id(base / "cluster.id")
    command = [
        "java",
        "-cp",
        f"{libs}/*",
        f"-Dlog4j.configuration=file:{settings.deploy_dir / 'kafka' / 'log4j.properties'}",
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        f"--cluster-id={cluster_id}",  # the = form also copes with an id kept from an older version
        "-c",
        str(config),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage in {data} failed:\n{result.stdout}{result.stderr}")


def broker_answers(bootstrap_servers: str, timeout_seconds: float = 3.0) -> bool:
    """True when a broker answers a metadata request with at least one live broker."""
    # A quiet logger: while the broker starts, librdkafka would log every refused connection.
    quiet = {"bootstrap.servers": bootstrap_servers, "logger": _QUIET, "log_level": 0}
    admin = AdminClient(quiet)  # type: ignore[arg-type]  # librdkafka accepts a logging.Logger here
    metadata = admin.list_topics(timeout=timeout_seconds)
    return bool(metadata.brokers)


def _cluster_id(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding. Like Kafka's own
    # Uuid.randomUuid, never start with '-': the storage tool would read the id as an option.
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    path.write_text(cluster_id + "\n")
    return cluster_id
