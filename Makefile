# The two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test proto lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Run the demo: a local Stigg emulator, the sidecar, and the official client.
demo: $(STAMP)
	$(VENV)/bin/python devtools/demo.py

## Run import-linter and the whole test suite (what CI runs).
test: $(STAMP)
	scripts/ensure_redis.sh
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest
	@echo "== again on uvloop (EVENT_LOOP's default): integration, Redis, real-time, faults, every RPC"
	TEST_EVENT_LOOP=uvloop $(VENV)/bin/python -m pytest -q tests/unit/test_event_loop.py \
	  tests/unit/adapters/test_redis_guard.py tests/integration tests/e2e/test_redis_mode.py \
	  tests/e2e/test_realtime.py tests/e2e/test_fault_matrix.py tests/e2e/test_all_rpcs.py

## Regenerate src/sidecarpb from proto/ (the one regeneration command).
proto: $(STAMP)
	PYTHON=$(VENV)/bin/python scripts/gen_proto.sh

## Benchmarks: the sidecar against its gRPC floor (bench/README.md), about 5 minutes.
bench: $(STAMP)
	scripts/ensure_redis.sh
	command -v h2load >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client)
	$(VENV)/bin/python -m bench

## Architecture contracts only (also part of `make test`).
lint: $(STAMP)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .import_linter_cache
