# One entry point for people and CI. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= h100-fp8
ARGS    ?=

.DEFAULT_GOAL := help
.PHONY: help install render stacks engine real-engine test e2e lint format typecheck bench up down status logs verify-flags flags-catalog

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@$(PY) -m venv $(VENV) >&2
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]' >&2
	@touch $@

install: $(BIN)/.installed ## create .venv and install ling_compose with its dev tools

render: install ## render PROFILE (default h100-fp8) to stdout, e.g. make render PROFILE=4090-int4 > docker-compose.yml
	@$(BIN)/python -m ling_compose render $(PROFILE) $(ARGS)

stacks: install ## regenerate stacks/ and the generated tables in docs/
	$(BIN)/python -m ling_compose.generate

engine: ## install and start a local Docker engine for the e2e tests (root on Debian; else a no-op)
	@bash .ci/docker-engine.sh

real-engine: install engine ## build (once; cached) the real llama-server image the e2e tests serve a tiny model with
	@$(BIN)/python -m tests.e2e.realengine.build >/dev/null

test: install engine real-engine lint typecheck ## lint, type-check and run every test (e2e ones need the engine)
	$(BIN)/python -m pytest $(ARGS)

lint: install ## ruff lint and format check
	$(BIN)/ruff check ling_compose tests tools bench
	$(BIN)/ruff format --check ling_compose tests tools bench

format: install ## apply ruff's formatting and fixes
	$(BIN)/ruff format ling_compose tests tools bench
	$(BIN)/ruff check --fix ling_compose tests tools bench

typecheck: install ## mypy --strict with the pydantic plugin
	$(BIN)/mypy

bench: install ## print render latency, and up's readiness/failure detection latency (needs the engine)
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_up.py

e2e: install engine real-engine ## only the end-to-end tests against the real engine
	$(BIN)/python -m pytest -m e2e tests/e2e

up: install ## render PROFILE, bring it up, wait until it serves, smoke-test tools
	$(BIN)/python -m ling_compose up $(PROFILE) $(ARGS)

down: install ## stop PROFILE's stack (keeps the weights volume)
	$(BIN)/python -m ling_compose down $(PROFILE) $(ARGS)

status: install ## what runs, its health and endpoint
	$(BIN)/python -m ling_compose status $(ARGS)

logs: install ## the stack's logs
	$(BIN)/python -m ling_compose logs $(ARGS)

verify-flags: install ## opt-in: feed every built-in stack's command to the real parsers of the pinned engines (~4.5 GB of venvs under .work/; ARGS=--build-llama builds llama-server)
	$(BIN)/python -m tools.flagcat verify $(ARGS)

flags-catalog: install ## regenerate one flag catalogue from the engine's real code and print its diff: make flags-catalog BACKEND=vllm VERSION=0.33.0
	$(BIN)/python -m tools.flagcat generate $(BACKEND) $(VERSION)
