# riskalert: `make demo` and `make test` are the two commands a new user needs.
# Everything installs itself: the venv, the Kafka jars and the Debian packages.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCAL := .local
KAFKA_LIBS := $(LOCAL)/kafka/libs
DEBS := prometheus prometheus-alertmanager kcat
# Each Debian package's command, to tell whether it is installed.
DEB_COMMANDS := prometheus prometheus-alertmanager promtool amtool kcat

.PHONY: help setup venv debs kafka-jars dashboard-linter dashboards test test-unit lint demo demo-live stack-up stack-down stack-status topics clean

help:
	@echo "make demo        install everything, stream a simulated day through the pipeline, check it against its ground truth"
	@echo "make demo-live   the same on the wall clock with scaled-down SLA deadlines: pages fire into Alertmanager"
	@echo "make test        install everything, start the stack, run every test, stop the stack"
	@echo "make setup       venv (.venv), Debian packages, Kafka jars (.local/kafka/libs)"
	@echo "make lint        ruff (lint + format check) and mypy"
	@echo "make dashboards  regenerate dashboards/grafana/*.json from streams/dashboards"
	@echo "make stack-up    start Kafka, Prometheus and Alertmanager on 127.0.0.1; make stack-down stops them"

setup: venv debs kafka-jars dashboard-linter

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

debs:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages ($(DEBS)); missing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBS); \
	fi

kafka-jars: $(KAFKA_LIBS)/.fetched

# The stamp depends on the pom: a second run downloads nothing; a version bump refetches.
$(KAFKA_LIBS)/.fetched: deploy/kafka/pom.xml
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(KAFKA_LIBS))
	touch $@

# grafana/dashboard-linter, built from the Go module proxy at the version deploy/tools/go.mod pins (its
# hash in go.sum) into .local/bin. The proxy serves no version list for it, so `go install ...@version`
# cannot resolve it; the tool module can. Rebuilt only when the pin changes.
dashboard-linter: $(LOCAL)/bin/dashboard-linter

$(LOCAL)/bin/dashboard-linter: deploy/tools/go.mod deploy/tools/go.sum
	cd deploy/tools && GOBIN=$(abspath $(LOCAL)/bin) GOFLAGS=-mod=readonly go install tool
	touch $@

dashboards: venv
	$(BIN)/python -m streams.dashboards

# Stop the stack whatever pytest's outcome, and keep pytest's exit status.
test: setup
	$(BIN)/riskalert stack up
	status=0; $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; $(BIN)/riskalert stack down; exit $$status

# The stack stays up afterwards (make stack-down stops it). DEMO_ARGS passes options, e.g. --seed 7.
demo: setup
	$(BIN)/riskalert demo $(DEMO_ARGS)

demo-live: setup
	$(BIN)/riskalert demo --live --seconds 300 $(DEMO_ARGS)

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check streams tests bench
	$(BIN)/ruff format --check streams tests bench
	$(BIN)/mypy

stack-up: setup
	$(BIN)/riskalert stack up

stack-down:
	$(BIN)/riskalert stack down

stack-status:
	$(BIN)/riskalert stack status

topics: venv
	$(BIN)/riskalert topics create

clean:
	-$(BIN)/riskalert stack down
	rm -rf $(LOCAL)/kafka/data $(LOCAL)/prometheus $(LOCAL)/alertmanager
