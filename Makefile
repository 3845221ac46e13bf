# POT — every developer and CI entry point. `make test` on a fresh machine installs everything it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv controlplane tools crds lint test test-unit test-integration test-e2e up down demo bench bench-pipeline bench-checker bench-operator clean

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv and install POT with its pinned dependencies

controlplane: ## Build (or reuse) kube-apiserver, kube-controller-manager and etcd in ~/.cache/pot
	@bash tests/stack/build-controlplane.sh >/dev/null

tools: venv controlplane ## Everything the tests need, built or reused (helm, promtool, the Argo CD Lua harness too)
	@bash charts/tools/install-tools.sh

crds: venv ## Regenerate crds/ (and the chart's copy) from the typed source (pot_common.api)
	$(PY) -m pot_common.api.generate crds
	bash charts/sync-crds.sh

lint: venv ## ruff, mypy --strict, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: tools lint ## Every test tier against the real local stack (what CI runs)
	$(PY) -m pytest tests/unit tests/integration tests/e2e tests/charts

test-unit: venv ## Fast unit tests only
	$(PY) -m pytest tests/unit

test-integration: tools ## Real Postgres, Redis, OpenBao, SMTP and DNS
	$(PY) -m pytest tests/integration

test-e2e: tools ## Real kube-apiserver with the operator running, and the Helm chart
	$(PY) -m pytest tests/e2e tests/charts

up: tools ## Start the local stack in .pot/ (writes .pot/kubeconfig and .pot/env)
	$(PY) -m pot_stack up

down: ## Stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) -m pot_stack down; fi

demo: up ## POT end to end on the local stack
	$(PY) -m pot_stack demo

bench: bench-pipeline bench-checker bench-operator ## Every benchmark; each prints name=value lines

bench-pipeline: tools ## Worker pipeline vs bare aiosmtplib on loopback (issue 4)
	$(PY) bench/pipeline.py

bench-checker: tools ## Email checker against a 500 ms RCPT probe server (issue 5)
	$(PY) bench/checker.py

bench-operator: tools ## 12,000 Mailboxes on the local control plane (issue 3)
	$(PY) bench/operator.py

clean: down ## Remove the virtualenv and local state (the control-plane cache stays)
	rm -rf $(VENV) .pot
