# One entry point for people and CI. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= h100-fp8
ARGS    ?=
OUT     ?=
CLI     := $(BIN)/python -m ling_compose

# `make -C DIR render > file` must not put make's "Entering directory" lines into the YAML.
# GNU make 4.4.1 and later honour this line for their own -C message too (their NEWS: MAKEFLAGS
# set in a makefile takes effect at once); make 4.3 prints that line before reading this file,
# and `render` then refuses to write YAML to stdout (see STDOUT_CLEAN).
MAKEFLAGS += --no-print-directory
# A "w" among the one-letter flags means make printed "Entering directory" on stdout anyway.
DIR_LINES_ON_STDOUT = $(findstring w,$(filter-out --%,$(firstword $(MAKEFLAGS))))
REFUSE_STDOUT = [ -t 1 ] || { \
  echo "error: make printed 'Entering directory' on stdout (-C or -w, GNU make before" \
  "4.4.1): YAML redirected from here would start with it" >&2; \
  echo "Hint: let render write the file atomically: make -C DIR render OUT=docker-compose.yml" \
  "(or run make --no-print-directory)" >&2; exit 2; }
STDOUT_CLEAN = $(if $(DIR_LINES_ON_STDOUT),$(REFUSE_STDOUT),:)
# make reports a failed recipe as "Error N" and itself exits 2: say the CLI's own code plainly.
KEEP_CODE = || { code=$$?; echo "make: ling_compose exited with code $$code" \
  "(README.md, Exit codes); make itself exits 2" >&2; exit $$code; }

.DEFAULT_GOAL := help
.PHONY: help install render stacks engine real-engine prometheus test e2e lint format typecheck bench up down status logs verify-flags flags-catalog

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@$(PY) -m venv $(VENV) >&2
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]' >&2
	@touch $@

install: $(BIN)/.installed ## create .venv and install ling_compose with its dev tools

render: install ## render PROFILE (default h100-fp8) atomically to OUT=FILE, or to stdout without OUT
	@$(if $(OUT),:,$(STDOUT_CLEAN))
	@$(CLI) render $(PROFILE) $(if $(OUT),-o $(OUT)) $(ARGS) $(KEEP_CODE)

stacks: install ## regenerate stacks/ and the generated tables in docs/
	$(BIN)/python -m tools.generate_stacks

engine: ## install and start a local Docker engine for the e2e tests (root on Debian; else a no-op)
	@bash .ci/docker-engine.sh

real-engine: install engine ## build (once; cached) the real llama-server image the e2e tests serve a tiny model with
	@$(BIN)/python -m tests.e2e.realengine.build >/dev/null

prometheus: ## unpack Debian's prometheus package for the metrics e2e tests (root on Debian; else a no-op)
	@bash .ci/prometheus.sh

test: install engine real-engine prometheus lint typecheck ## lint, type-check and run every test (e2e ones need the engine)
	$(BIN)/python -m pytest $(ARGS)

lint: install ## ruff lint and format check
	$(BIN)/ruff check ling_compose tests tools bench
	$(BIN)/ruff format --check ling_compose tests tools bench

format: install ## apply ruff's formatting and fixes
	$(BIN)/ruff format ling_compose tests tools bench
	$(BIN)/ruff check --fix ling_compose tests tools bench

typecheck: install ## mypy --strict with the pydantic plugin
	$(BIN)/mypy

bench: install ## print render latency, up's readiness/failure detection latency and a bench run against a stand-in (needs the engine)
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_up.py
	$(BIN)/python bench/bench_serve.py

e2e: install engine real-engine prometheus ## only the end-to-end tests against the real engine
	$(BIN)/python -m pytest -m e2e tests/e2e

up: install ## render PROFILE, bring it up, wait until it serves, smoke-test tools
	@$(CLI) up $(PROFILE) $(ARGS) $(KEEP_CODE)

down: install ## stop PROFILE's stack (keeps the weights volume)
	@$(CLI) down $(PROFILE) $(ARGS) $(KEEP_CODE)

status: install ## what runs, its health and endpoint
	@$(CLI) status $(ARGS) $(KEEP_CODE)

logs: install ## the stack's logs
	@$(CLI) logs $(ARGS) $(KEEP_CODE)

verify-flags: install ## opt-in: feed every built-in stack's command (Compose, Kubernetes, multi-node leaders and workers) to the real parsers of the pinned engines (~11 GB of venvs under .work/, measured; ARGS=--build-llama builds llama-server)
	$(BIN)/python -m tools.flagcat verify $(ARGS)

flags-catalog: install ## regenerate one flag catalogue from the engine's real code and print its diff: make flags-catalog BACKEND=vllm VERSION=0.33.0
	$(BIN)/python -m tools.flagcat generate $(BACKEND) $(VERSION)
