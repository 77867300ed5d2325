"""The local stack: Kafka, Prometheus and Alertmanager as background processes under `<home>`."""

from __future__ import annotations

from streams.settings import Settings
from streams.stack.kafka import kafka_service
from streams.stack.monitoring import alertmanager_service, prometheus_service
from streams.stack.process import Service, ServiceStatus, start, status, stop

__all__ = ["services", "stack_down", "stack_status", "stack_up"]


def services(settings: Settings) -> list[Service]:
    """The stack's services, in start order (Alertmanager before the Prometheus that sends to it)."""
    return [kafka_service(settings), alertmanager_service(settings), prometheus_service(settings)]


def stack_up(settings: Settings) -> list[tuple[str, bool]]:
    """Start every service that is not running. Returns (name, started_now) per service."""
    return [(service.name, start(service)) for service in services(settings)]


def stack_down(settings: Settings) -> list[tuple[str, bool]]:
    """Stop every service, in reverse start order. Returns (name, was_running) per service."""
    return [(service.name, stop(service)) for service in reversed(services(settings))]


def stack_status(settings: Settings) -> list[ServiceStatus]:
    """Each service's pid, port and health."""
    return [status(service) for service in services(settings)]
