"""`riskalert simulate` and `riskalert demo`: a seeded warning stream with its ground truth.

- `calibration`: the mixes and response times, from shared/DOMAIN.md's figures; `choose` draws from a mix.
- `people`: synthetic names, GB 11643 ID numbers and phones.
- `model`: the configuration, the lines, time helpers; `generate`: cases (a person warned by one or
  more sources) into ingest records, deterministic per seed, with `sources` (the warnings and their
  alert lines), `lifecycle` (the stations' events), `victims` (victim case records) and `details`
  (event details, malformed lines).
- `order`: the one stream order the demo produces records in and the ground truth replays.
- `truth`: the ground truth, computed by running the pipeline's own pure logic over that order.
- `output`: the files (`alerts.jsonl`, `events.jsonl`, `victims.jsonl`, `expected.json`).
- `feed`, `demo`, `display`, `processes`, `topics`, `measure`: the demo runner (streaming, the
  workers, the live view, the measurements and the comparison).
"""
