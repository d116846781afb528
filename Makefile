# Every target installs what it needs into .venv, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INSTALLED := $(VENV)/.installed
GENERATED := wastesvc/v1/.generated
PROTOS := $(wildcard proto/wastesvc/v1/*.proto)
BUF_VERSION := 1.75.0
ARGS ?=

.PHONY: install proto run test lint fmt bench-routing bench-faults bench-ingest quick full kim classic clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# Generated code is not committed: it is produced here, before anything imports it (see README).
proto: $(GENERATED)

$(GENERATED): $(PROTOS) $(INSTALLED)
	rm -f wastesvc/v1/*_pb2*.py wastesvc/v1/*_pb2*.pyi
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc \
		-Iproto -Iproto/third_party \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. \
		$(PROTOS)
	touch $@

run: $(GENERATED)
	$(BIN)/wastesvc demo $(ARGS)

test: $(GENERATED)
	$(BIN)/python -m pytest $(ARGS)

lint: $(GENERATED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(wildcard wastesvc routing adapters bench tests)
	cd proto && npx --yes @bufbuild/buf@$(BUF_VERSION) lint

fmt: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench-routing quick`, `... kim` (the 8 Kim instances), `... classic` (the others) or `PRESET=full`;
# `ONLY="1932 2100"` re-runs those instances of the preset.
bench-routing: $(GENERATED)
	$(BIN)/python -m bench.routing $(or $(PRESET),$(filter quick full kim classic,$(MAKECMDGOALS)),quick) $(ONLY)

quick full kim classic:
	@:

# 10,000 generated bad requests over every RPC and 3 kill -9 runs during ingest -> bench/results/robustness.json
bench-faults: $(GENERATED)
	$(BIN)/python -m bench.faults $(ARGS)

# Batched / streamed / unary ingest on SQLite and PostgreSQL next to a no-op server -> bench/results/ingest.json
bench-ingest: $(GENERATED)
	$(BIN)/python -m bench.ingest $(ARGS)

clean:
	rm -rf $(VENV) out var wastesvc/v1/*_pb2*.py wastesvc/v1/*_pb2*.pyi $(GENERATED)
