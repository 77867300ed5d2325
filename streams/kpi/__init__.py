"""The wall-display KPIs (DOMAIN.md; docs/kpi.md), defined once as ClickHouse SQL (`queries`) over the
cells migrations 004 and 005 keep, shaped into the report (`report`, `table`) that `riskalert kpi` prints
and `GET /v1/kpi` (`http`) serves; `source` picks the store or the worker that owns it. Dashboards run
the same SQL."""
