# interop-bench: `make` alone prints this help.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     ?= .venv
SCENARIO ?= scenarios/quick.toml
SERVICES ?=
RUN      ?= latest
RUN_B    ?=
UI_PORT  ?= 8089

PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

##@ Using it

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "interop-bench: what it costs to cross a language boundary\n\nUsage: make <target> [KNOB=value]\n"} \
	  /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
	@printf "\nKnobs: SCENARIO=$(SCENARIO) SERVICES='$(SERVICES)' RUN=$(RUN) UI_PORT=$(UI_PORT) VENV=$(VENV)\n"

.PHONY: bench
bench: setup build ## Run the benchmark matrix (SCENARIO=...) and write results/<run>/index.html
	$(PY) -m harness bench --scenario $(SCENARIO) $(SERVICES)

.PHONY: ui
ui: setup build ## Start services and the Locust web UI on 127.0.0.1:8089 (knob UI_PORT; Ctrl-C stops all)
	$(PY) -m harness ui --port $(UI_PORT) $(SERVICES)

.PHONY: report
report: setup ## (Re)write the report of a run (RUN=<folder under results/>, default the latest)
	$(PY) -m harness report $(RUN)

.PHONY: compare
compare: setup ## Compare two runs: make compare RUN=<a> RUN_B=<b>
	@test -n "$(RUN_B)" || { echo "usage: make compare RUN=<run a> RUN_B=<run b>" >&2; exit 2; }
	$(PY) -m harness compare $(RUN) $(RUN_B)

.PHONY: services
services: setup ## List services, the transports they serve, and their gaps
	$(PY) -m harness services

.PHONY: peers
peers: build ## Real peers and faults: curl, ab, wrk, h2spec, grpcurl, broker restarts (docs/reliability.md)
	@bash scripts/ensure-go-tools.sh
	$(PY) -m pytest -q tests/peers

##@ Developing

.PHONY: setup
setup: $(STAMP) ## Install system packages (apt, when root) and the Python environment in .venv
	@bash scripts/ensure-system.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

.PHONY: build
build: setup ## Build every service (their manifests' build steps)
	$(PY) -m harness build $(SERVICES)

.PHONY: check
check: build ## Conformance: every vector over every service x transport
	$(PY) -m harness check $(SERVICES)

FUZZ_INPUTS ?= 10000

.PHONY: fuzz
fuzz: build ## Malformed input over every service x transport (FUZZ_INPUTS per cell; docs/reliability.md)
	$(PY) -m harness fuzz --inputs $(FUZZ_INPUTS) $(SERVICES)

.PHONY: lint
lint: setup ## ruff and mypy over the Python code
	$(PY) -m ruff check harness scenarios tests contract services/python
	$(PY) -m mypy harness scenarios/locustfile.py tests contract/gen_vectors.py

.PHONY: vectors
vectors: setup ## Regenerate contract/vectors/ from CPython's difflib (commit the result)
	$(PY) contract/gen_vectors.py

.PHONY: test
test: build lint ## Everything: lint, services' unit tests, conformance, the harness's tests
	$(PY) -m harness unit $(SERVICES)
	$(PY) -m harness check $(SERVICES)
	$(PY) -m pytest -q tests

.PHONY: clean
clean: ## Remove build outputs and caches (keeps results/ and .venv)
	rm -rf .build .pytest_cache .mypy_cache .ruff_cache services/java/target services/erlang/_build \
	  services/python/bench_service/_pb
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## Also remove .venv and every result under results/
	rm -rf $(VENV) results
