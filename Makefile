# promptstage task runner. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEV_KEY_FILE := .promptstage/dev-admin-key
DEMO_PASSWORD_FILE := .promptstage/demo-password

.DEFAULT_GOAL := help
.PHONY: help run fake-model test check bench sim fmt fuzz screenshots clean

# Eval runs of `make run` call the local fake model (`make fake-model`) by default. These
# defaults live in this Makefile only (the server's own defaults are the real OpenAI and
# Anthropic APIs); the environment overrides them, e.g. to try a real model:
#   PROMPTSTAGE_EVAL_OPENAI_BASE_URL=https://api.openai.com/v1 \
#   PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV=OPENAI_API_KEY make run
# The fake model accepts any key; PROMPTSTAGE_FAKE_MODEL_KEY is a dummy one to send it.
FAKE_MODEL_PORT ?= 8790
PROMPTSTAGE_EVAL_OPENAI_BASE_URL ?= http://127.0.0.1:$(FAKE_MODEL_PORT)/v1
PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL ?= http://127.0.0.1:$(FAKE_MODEL_PORT)
PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV ?= PROMPTSTAGE_FAKE_MODEL_KEY
PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV ?= PROMPTSTAGE_FAKE_MODEL_KEY
PROMPTSTAGE_FAKE_MODEL_KEY ?= fake-model-key
EVAL_ENV = PROMPTSTAGE_EVAL_OPENAI_BASE_URL="$(PROMPTSTAGE_EVAL_OPENAI_BASE_URL)" \
	PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL="$(PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL)" \
	PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV="$(PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV)" \
	PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV="$(PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV)" \
	PROMPTSTAGE_FAKE_MODEL_KEY="$(PROMPTSTAGE_FAKE_MODEL_KEY)"

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

# Two installs: `make run` installs what serving needs (RUN_EXTRAS: the server imports the
# eval extra's provider clients; psycopg lets it serve on Postgres too), `make test` and the
# other tasks the whole toolchain (DEV_EXTRAS). Both reuse an existing .venv and say what they
# do; a stamp newer than pyproject.toml means its install is done.
RUN_STAMP  := $(VENV)/.run-stamp
RUN_EXTRAS := server,postgres,eval
DEV_EXTRAS := server,postgres,eval,dev
PIP        := $(BIN)/python -m pip install --disable-pip-version-check

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "promptstage needs Python 3.11+")'
	@echo "==> creating the virtualenv $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip in $(VENV)"
	$(PIP) --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing promptstage with what serving needs: .[$(RUN_EXTRAS)]"
	$(PIP) -e '.[$(RUN_EXTRAS)]'
	@touch $(RUN_STAMP)
	@echo "==> installed; the test and lint tools come with the first make test"

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing promptstage with the test and lint tools: .[$(DEV_EXTRAS)]"
	$(PIP) -e '.[$(DEV_EXTRAS)]'
	@touch $(RUN_STAMP) $(STAMP)

$(DEV_KEY_FILE):
	@mkdir -p $(dir $@)
	@$(PYTHON) -c 'import secrets; print(f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}")' > $@
	@chmod 600 $@

$(DEMO_PASSWORD_FILE):
	@mkdir -p $(dir $@)
	@$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(18))' > $@
	@chmod 600 $@

run: $(RUN_STAMP) $(DEV_KEY_FILE) $(DEMO_PASSWORD_FILE) ## serve on 127.0.0.1:8700 (SQLite), seeded with the demo project
	@echo "==> starting the server (the full admin key is in $(DEV_KEY_FILE); the banner shows its prefix only)"
	PROMPTSTAGE_ADMIN_KEY="$$(cat $(DEV_KEY_FILE))" PROMPTSTAGE_DEMO_PASSWORD="$$(cat $(DEMO_PASSWORD_FILE))" $(EVAL_ENV) $(BIN)/promptstage serve --demo

fake-model: $(RUN_STAMP) ## a local fake model on 127.0.0.1:8790 (OpenAI and Anthropic wire) for eval runs
	$(BIN)/promptstage dev fake-model --port $(FAKE_MODEL_PORT)

# The suite runs in one pytest-xdist worker per core, up to 4 (TEST_WORKERS=0 runs it in this
# process). Each file stays on one worker (--dist loadfile), so a module's server is started once.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, os.cpu_count() or 1))')

test: $(STAMP) ## run the whole test suite (TEST_WORKERS=N processes; default one per core, up to 4)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

check: $(STAMP) ## lint, format-check, type-check and check the import layers
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) ## run the benchmarks (figures go to docs/performance.md)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

sim: $(STAMP) ## full release-statistics simulation suite (fixed seeds; minutes; figures in docs/releases.md)
	PROMPTSTAGE_SIM=full $(BIN)/pytest tests/rollout/analysis/test_sim_suite.py -q -s -o timeout=0

fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

screenshots: $(STAMP) ## screenshots of every admin UI page for docs/ui.md (needs /usr/bin/chromium)
	$(BIN)/python scripts/screenshots.py

fuzz: $(STAMP) ## long schemathesis run, every phase, against a seeded server; prints the reach (FUZZ_EXAMPLES=200 per operation)
	cd tests && ../$(BIN)/python -m e2e.fuzz.long_run $(or $(FUZZ_EXAMPLES),200)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .promptstage .pytest_cache .mypy_cache .ruff_cache
