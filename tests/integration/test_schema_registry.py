"""Registry mode through confluent-kafka's real registry client, over HTTP.

No Confluent-compatible registry can be installed from this machine's package registries (Karapace and
Confluent's registry are on neither PyPI nor Maven Central), so the test serves the subset of the
registry's REST API the client uses (register a subject version, fetch a schema by id) from a small
HTTP server on loopback. The client, its HTTP stack and riskalert's id handling are the real ones.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from streams.codec import AvroCodec
from streams.errors import RegistryError
from streams.schema_catalog import default_catalog
from streams.schema_ids import schema_ids_from_settings
from streams.settings import Settings
from tests.unit.test_codec import RECORDS


class _Registry(BaseHTTPRequestHandler):
    # Class-level on purpose: the server builds a handler per request; the registry's state outlives it.
    schemas: ClassVar[dict[int, str]] = {}
    subjects: ClassVar[dict[str, list[int]]] = {}

    def do_POST(self) -> None:  # http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        subject = self.path.split("/")[2]
        ids = {schema: schema_id for schema_id, schema in self.schemas.items()}
        schema_id = ids.get(body["schema"]) or 100 + len(self.schemas)
        self.schemas[schema_id] = body["schema"]
        self.subjects.setdefault(subject, []).append(schema_id)
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        schema_id = int(self.path.split("?")[0].rstrip("/").split("/")[-1])
        if schema_id in self.schemas:
            self._reply(200, {"schema": self.schemas[schema_id]})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_ids_come_from_the_registry_and_decode_in_another_process_view(
    settings: Settings, registry_url: str
) -> None:
    configured = settings.model_copy(update={"schema_registry_url": registry_url, "topic_prefix": "c1."})
    writer = AvroCodec(schema_ids_from_settings(configured, default_catalog()))
    data = writer.encode("RawAlert", RECORDS["RawAlert"])
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id in _Registry.schemas
    assert schema_id in _Registry.subjects["c1.alerts.raw-value"]
    # A fresh codec (as in another process) knows nothing and fetches the writer schema by id.
    reader = AvroCodec(schema_ids_from_settings(configured, default_catalog()))
    record_type, record = reader.decode(data, topic="c1.alerts.raw", partition=0, offset=7)
    assert record_type == "RawAlert"
    assert record == {**RECORDS["RawAlert"], **{k: record[k] for k in ("issued_at", "ingested_at")}}


def test_an_unreachable_registry_is_a_registry_error_without_credentials(settings: Settings) -> None:
    configured = settings.model_copy(update={"schema_registry_url": "http://user:s3cret@127.0.0.1:9/"})
    codec = AvroCodec(schema_ids_from_settings(configured, default_catalog()))
    with pytest.raises(RegistryError) as caught:
        codec.encode("TaskEvent", RECORDS["TaskEvent"])
    assert "s3cret" not in str(caught.value)
