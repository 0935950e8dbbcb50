# edgepub: every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv demo test lint format build bench clean check-pages

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(STAMP) ## create .venv with edgepub and its development tools

demo: $(STAMP) ## run the pipeline on the embedded stack and show what it published and purged
	$(BIN)/edgepub demo

# One pytest worker per core (pytest-xdist); each test's embedded stack is its worker's own.
test: $(STAMP) ## run the test suite (unit tests and the embedded stack over HTTP)
	$(BIN)/pytest -n auto --dist worksteal

lint: $(STAMP) ## ruff, mypy --strict and cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# SAM CLI pins its own click, boto3 and stubs: it gets a virtualenv of its own,
# so `make build` never changes the versions `make lint` and `make test` use.
SAM_VENV := .venv-sam
$(SAM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check "$$(sed -n 's/^deploy = \["\(.*\)"\]/\1/p' pyproject.toml)"
	touch $@

# The layer and functions use `BuildMethod: makefile` (layers/edgepub/Makefile,
# functions/*/Makefile): wheels for python3.13 / arm64 from any machine, no container.
build: $(STAMP) $(SAM_VENV)/.installed ## sam build: the deployable artifacts in .aws-sam/build
	SAM_CLI_TELEMETRY=0 PYTHON=$(CURDIR)/$(BIN)/python $(SAM_VENV)/bin/sam build \
	  --template-file template.yaml --build-dir $(CURDIR)/.aws-sam/build

# The peer is Debian's hugo, installed here if missing (needs root or sudo).
bench: $(STAMP) build ## measure edgepub beside Hugo (after sam build, for the layer's size); writes docs/benchmarks.md and .edgepub/bench.json
	@command -v hugo >/dev/null || { apt-get update -qq && apt-get install -y -qq hugo; } \
	  || echo "hugo could not be installed: benchmarks will show edgepub alone"
	$(BIN)/python -m tests.performance.bench $(BENCH_ARGS)

clean: ## remove the virtualenv, build output and local state
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .edgepub .pytest_cache .mypy_cache .ruff_cache

# The page-quality gate (issue 13, tests/pages/check_pages.py). Debian's Chromium and a
# Java runtime, installed here if missing (needs root or sudo); the Nu HTML Checker,
# axe-core, playwright-core and Lighthouse from tests/pages/package-lock.json (npm ci,
# no install scripts: nothing downloads a browser or a JDK). PAGES_ARGS=--write-docs
# also writes the Lighthouse scores into docs/benchmarks.md; --no-lighthouse skips it.
PAGES := tests/pages
$(PAGES)/node_modules/.installed: $(PAGES)/package.json $(PAGES)/package-lock.json
	cd $(PAGES) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

check-pages: $(STAMP) $(PAGES)/node_modules/.installed ## page-quality gate: Nu HTML Checker on every built page, axe-core in Chromium on every page kind; prints Lighthouse scores
	@missing=""; [ -x /usr/bin/chromium ] || missing=" chromium"; \
	  command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	  [ -z "$$missing" ] || { echo "installing from Debian:$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }
	$(BIN)/python -m tests.pages.check_pages $(PAGES_ARGS)
