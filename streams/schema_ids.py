"""Where the codec's schema ids come from: the schema files (local) or a Confluent-compatible registry.

The codec only needs two questions answered, so any id source fits behind `SchemaIds`: which id to write a
record type's current schema under, and which schema an id read from a message stands for.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlsplit

from streams.errors import RegistryError, SchemaError
from streams.schema_catalog import RECORD_TOPICS, Catalog, JsonSchema, SchemaVersion, local_schema_id
from streams.settings import Settings

# The registry's "schema not found" status; anything else is the registry failing, worth a retry.
_HTTP_NOT_FOUND = 404


class SchemaIds(Protocol):
    """A source of schema ids."""

    def id_for(self, record_type: str) -> int:
        """The id to write `record_type`'s current schema under."""
        ...

    def schema_for(self, schema_id: int) -> JsonSchema | None:
        """The writer schema (as JSON) an id stands for, or None when the id is unknown."""
        ...


class LocalSchemaIds:
    """Ids derived from the schema files (`local_schema_id`), for the current and every released version.

    Args:
        catalog: the schemas.

    Raises:
        SchemaError: when two different schemas map to one id, naming both files.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._by_id = _index_by_id(catalog)
        self._current_ids = {name: local_schema_id(v.canonical_form) for name, v in catalog.current.items()}

    def id_for(self, record_type: str) -> int:
        """The local id of `record_type`'s current schema."""
        return self._current_ids[record_type]

    def schema_for(self, schema_id: int) -> JsonSchema | None:
        """The schema with this local id, current or released; None when there is none."""
        return self._by_id.get(schema_id)


def _index_by_id(catalog: Catalog) -> dict[int, JsonSchema]:
    by_id: dict[int, SchemaVersion] = {}
    for version in catalog.versions():
        schema_id = local_schema_id(version.canonical_form)
        known = by_id.setdefault(schema_id, version)
        # Versions that differ only in docs or defaults share a canonical form, so they share the id.
        if known.canonical_form != version.canonical_form:
            raise SchemaError(
                f"schema id {schema_id} collides: {known.path} ({known.label}) and {version.path} "
                f"({version.label}) differ; change either schema's doc-free shape or use a schema registry"
            )
    return {schema_id: version.schema for schema_id, version in by_id.items()}


class RegistryClient(Protocol):
    """The two registry calls the codec makes."""

    def register(self, subject: str, schema_str: str) -> int:
        """Register an Avro schema under `subject` (idempotent) and return its id."""
        ...

    def lookup(self, schema_id: int) -> str | None:
        """The schema text with this id, or None when the registry has no such id."""
        ...


class RegistrySchemaIds:
    """Ids from a schema registry: subject `<topic>-value`, cached for the life of the process.

    Args:
        client: the registry.
        catalog: the current schemas, registered on first use of each record type.
        topic_prefix: `Settings.topic_prefix`, part of every subject.
    """

    def __init__(self, client: RegistryClient, catalog: Catalog, *, topic_prefix: str = "") -> None:
        self._client = client
        self._catalog = catalog
        self._topic_prefix = topic_prefix
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, JsonSchema] = {}

    def subject(self, record_type: str) -> str:
        """The registry subject of a record type, e.g. `alerts.raw-value`."""
        return f"{self._topic_prefix}{RECORD_TOPICS[record_type]}-value"

    def id_for(self, record_type: str) -> int:
        """Register the current schema once, then answer from the cache.

        Raises:
            RegistryError: the registry refused the schema (e.g. incompatible) or is unreachable.
        """
        if record_type not in self._ids:
            schema = self._catalog.current[record_type].schema
            schema_id = self._client.register(
                self.subject(record_type), json.dumps(schema, ensure_ascii=False)
            )
            self._ids[record_type] = schema_id
            self._schemas[schema_id] = schema
        return self._ids[record_type]

    def schema_for(self, schema_id: int) -> JsonSchema | None:
        """Ask the registry once per id; None when it has no such id or the schema is not Avro JSON.

        Raises:
            RegistryError: the registry is unreachable.
        """
        if schema_id in self._schemas:
            return self._schemas[schema_id]
        text = self._client.lookup(schema_id)
        schema = _avro_json(text) if text is not None else None
        if schema is not None:
            self._schemas[schema_id] = schema
        return schema


def _avro_json(text: str) -> JsonSchema | None:
    try:
        schema = json.loads(text)
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


class ConfluentRegistryClient:
    """`RegistryClient` over confluent-kafka's `SchemaRegistryClient`.

    Args:
        url: the registry URL, e.g. `http://127.0.0.1:8081`; credentials in it are never shown in errors.

    Raises:
        RegistryError: when confluent-kafka's registry extra (`confluent-kafka[schemaregistry]`) is missing.
    """

    def __init__(self, url: str) -> None:
        try:
            from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
        except ImportError as exc:
            # The registry client needs optional dependencies (httpx, authlib, cachetools, attrs).
            raise RegistryError(f"the schema registry client is not installed: {exc}") from exc
        parts = urlsplit(url)
        self._shown = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
        self._client = SchemaRegistryClient({"url": url})
        self._schema_class = Schema

    def register(self, subject: str, schema_str: str) -> int:
        """Register under `subject`; see `RegistryClient.register`."""
        try:
            return int(self._client.register_schema(subject, self._schema_class(schema_str, "AVRO")))
        except Exception as exc:  # the client raises its own errors and httpx's
            raise RegistryError(
                f"schema registry {self._shown} did not register subject {subject}: {exc}"
            ) from exc

    def lookup(self, schema_id: int) -> str | None:
        """Fetch by id; see `RegistryClient.lookup`."""
        try:
            schema: Any = self._client.get_schema(schema_id)
        except Exception as exc:  # the client raises its own errors and httpx's
            if getattr(exc, "http_status_code", None) == _HTTP_NOT_FOUND:
                return None
            raise RegistryError(
                f"schema registry {self._shown} did not answer for id {schema_id}: {exc}"
            ) from exc
        return str(schema.schema_str)


def schema_ids_from_settings(settings: Settings, catalog: Catalog) -> SchemaIds:
    """Local ids, or registry ids when `RISKALERT_SCHEMA_REGISTRY_URL` is set."""
    if settings.schema_registry_url is None:
        return LocalSchemaIds(catalog)
    client = ConfluentRegistryClient(settings.schema_registry_url)
    return RegistrySchemaIds(client, catalog, topic_prefix=settings.topic_prefix)
