"""Integration fixtures: the real local stack, unique topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not in __all__

from streams.settings import Settings
from streams.stack import stack_up
from tests.integration.kafka_io import create_prefixed_topics, delete_prefixed_topics

TopicFactory = Callable[..., str]


@pytest.fixture(scope="session", autouse=True)
def local_stack(settings: Settings) -> None:
    """The stack `make test` started; started here too (idempotently) when pytest runs alone."""
    stack_up(settings)


@pytest.fixture
def admin(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_client_config())


@pytest.fixture
def topic_factory(admin: AdminClient) -> Iterator[TopicFactory]:
    """Creates uniquely named topics for one test and deletes them afterwards."""
    created: list[str] = []

    def create(prefix: str = "test", partitions: int = 6, config: dict[str, str] | None = None) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        future = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
        )[name]
        future.result(timeout=30)
        created.append(name)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created, request_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def isolated(settings: Settings) -> Iterator[Settings]:
    """Settings with a private topic prefix whose declared topics exist; deleted afterwards."""
    private = settings.model_copy(update={"topic_prefix": f"it{uuid.uuid4().hex[:8]}."})
    create_prefixed_topics(private)
    yield private
    delete_prefixed_topics(private)
