# POT — every developer and CI entry point. `make test` on a fresh machine installs everything it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv lock controlplane tools crds lint test test-unit test-integration test-e2e up down demo bench bench-pipeline bench-checker bench-operator bench-console screenshots clean image test-image docs bench-onboarding bench-feedback bench-history

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header -q

# Every dependency, transitive ones included, comes from requirements/dev.lock with its hashes;
# POT and pot_stack themselves are then installed editable without resolving anything.
$(STAMP): pyproject.toml tests/stack/pyproject.toml requirements/dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . -e tests/stack
	@touch $@

venv: $(STAMP) ## Create .venv and install POT with its locked dependencies

lock: venv ## Re-resolve requirements/*.lock after a pyproject.toml change (review the diff)
	$(VENV)/bin/uv pip compile pyproject.toml tests/stack/pyproject.toml requirements/build.in \
	  --extra dev $(LOCK_FLAGS) -o requirements/dev.lock
	$(VENV)/bin/uv pip compile pyproject.toml -c requirements/dev.lock $(LOCK_FLAGS) -o requirements/pot.lock
	$(VENV)/bin/uv pip compile requirements/build.in -c requirements/dev.lock $(LOCK_FLAGS) -o requirements/build.lock

controlplane: ## Build (or reuse) kube-apiserver, kube-controller-manager and etcd in ~/.cache/pot
	@bash tests/stack/build-controlplane.sh >/dev/null

tools: venv controlplane ## Everything the tests need, built or reused (helm, promtool, the Argo CD Lua harness, chromium, SeaweedFS, Dovecot too)
	@bash charts/tools/install-tools.sh
	@bash tests/browser/install-chromium.sh
	@bash tests/stack/build-s3.sh >/dev/null
	@bash tests/stack/build-imap.sh >/dev/null

crds: venv ## Regenerate crds/ (and the chart's copy) from the typed source (pot_common.api)
	$(PY) -m pot_common.api.generate crds
	bash charts/sync-crds.sh

docs: venv ## Regenerate docs/potctl-reference.md from the potctl CLI (a unit test fails when it is stale)
	$(PY) -m potctl.reference --write

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

image: ## Build POT's OCI image without Docker into ~/.cache/pot/image; prints its digest and size
	@bash image/build.sh

test-image: venv ## Run the image under runc: every entry point, the user, one send (builds it if stale)
	@bash image/build.sh --if-stale
	$(PY) -m pytest tests/image

up: tools ## Start the local stack in .pot/ (writes .pot/kubeconfig and .pot/env)
	$(PY) -m pot_stack up

down: ## Stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) -m pot_stack down; fi

demo: up ## POT end to end on the local stack
	$(PY) -m pot_stack demo

bench: bench-pipeline bench-checker bench-operator bench-console bench-memory bench-onboarding bench-feedback bench-history ## Every benchmark; each prints name=value lines

bench-pipeline: tools ## Worker pipeline vs bare aiosmtplib on loopback (issue 4)
	$(PY) bench/pipeline.py

bench-feedback: tools ## One pot-ingester reading 1,200 inboxes on the stack's Dovecot: connections, memory, classifier speed, bounce to health (issue 13)
	$(PY) bench/feedback.py

bench-history: tools ## Claim latency with 0 and 10,000,000 historical events, and the retention sweeper's throughput (issue 15)
	$(PY) bench/claims_history.py

bench-checker: tools ## Email checker on a world of shared MX hosts, greylisting and full mailboxes: efficiency, politeness
	$(PY) bench/checker.py

.PHONY: bench-memory
bench-memory: tools ## potctl's peak memory on a million rows: import-recipients and check-emails (issue 16)
	$(PY) bench/memory.py

bench-operator: tools ## 12,000 Mailboxes on the local control plane (issue 3)
	$(PY) bench/operator.py

bench-onboarding: tools ## potctl mailboxes import of 1,200 rows into Vault and a live control plane: time, memory (issue 18)
	$(PY) bench/onboarding.py

bench-console: venv ## The console's Fleet page with 12,000 Mailboxes: server time and memory (issue 14)
	$(PY) bench/console.py

screenshots: tools ## Refresh docs/console/*.png: each console page in Debian's chromium (Playwright)
	$(PY) -m pytest tests/e2e/console/screenshots.py -q

clean: down ## Remove the virtualenv and local state (the control-plane cache stays)
	rm -rf $(VENV) .pot
