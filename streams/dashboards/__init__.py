"""The Grafana dashboards as code: `python -m streams.dashboards` (`make dashboards`) writes
dashboards/grafana/*.json from these modules; the tests regenerate them and fail on any difference.

| module | what |
|---|---|
| `wall.py`, `ops.py`, `pipeline.py` | the three dashboards |
| `sql.py` | the panels' ClickHouse SQL (the KPI panels run `streams.kpi.queries`' texts) |
| `grafana.py`, `panels.py` | datasources, query targets, thresholds, panel shapes |
| `generate.py` | rendering and writing the JSON |
"""
