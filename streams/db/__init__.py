"""The ClickHouse layer: schema migrations, the connection, row mapping and idempotent inserts.

- `client.connect(settings)`: a clickhouse-connect client for embedded chDB or a server.
- `migrate.migrate(client, ...)`: applies `deploy/clickhouse/migrations/NNN_*.sql` once each, in order.
- `rows`: pure functions from decoded Avro records to table rows, with each table's column names.
- `insert.insert_rows(...)`: one batch, deduplicated by its token, so a replayed batch lands once.

The KPI queries over these tables live in `streams.kpi`.
"""
