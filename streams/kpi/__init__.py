"""The wall-display KPIs (DOMAIN.md), defined once as ClickHouse SQL (`queries`) and reported per station
(`report`). Dashboards and `riskalert kpi` run the same SQL."""
