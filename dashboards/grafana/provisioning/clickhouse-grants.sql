-- The read-only ClickHouse user the Grafana datasource logs in as (provisioning/datasources/riskalert.yaml).
-- Run once on the server as an administrator; on a cluster whose access storage is not replicated, add
-- ON CLUSTER <name> to each statement. It reads the KPI cells and the base tables' columns the dashboards
-- use: no person key, phone, suspect account, officer (assignee), free-text note or victim case. The masked
-- name (张*) is granted: the ops board's overdue table and task view show it to centre staff.
-- tests/unit/dashboards/test_provisioning.py checks that these statements parse and that every column a
-- dashboard query reads is granted.
CREATE ROLE IF NOT EXISTS riskalert_reader;
GRANT SELECT ON riskalert.kpi_cells_recent TO riskalert_reader;
GRANT SELECT ON riskalert.kpi_cells_history TO riskalert_reader;
GRANT SELECT(event_id, task_id, step, cycle, kind, due_at, detected_at, completed_at, implied, overdue_by_ms, level,
             station_code, region_code, fraud_type, sources) ON riskalert.sla_events TO riskalert_reader;
GRANT SELECT(event_id, task_id, type, occurred_at, verify_method, outcome, amount_protected_fen, measure,
             was_dissuaded) ON riskalert.task_events TO riskalert_reader;
GRANT SELECT(task_id, version, level, base_level, fraud_type, station_code, region_code, sources, status,
             created_at, updated_at, closed_at, amount_at_risk_fen, age_band, resident_type, prior_victim,
             prior_case_count, prior_warnings_90d, masked_name) ON riskalert.tasks TO riskalert_reader;
GRANT SELECT(alert_key, source, issued_at, level, fraud_type, station_code, region_code, age_band,
             resident_type, amount_at_risk_fen, dedup_outcome, task_id) ON riskalert.alerts TO riskalert_reader;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '<from the secret store>'
    SETTINGS readonly = 2, max_execution_time = 30;
GRANT riskalert_reader TO grafana;
SET DEFAULT ROLE riskalert_reader TO grafana;
