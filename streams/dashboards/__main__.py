"""`python -m streams.dashboards`: write dashboards/grafana/*.json."""

from streams.dashboards.generate import write

for path in write():
    print(path)
