# Every target installs what it needs into .venv, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INSTALLED := $(VENV)/.installed
GENERATED := wastesvc/v1/.generated
PROTOS := $(wildcard proto/wastesvc/v1/*.proto)
BUF_VERSION := 1.75.0
ARGS ?=

.PHONY: bench-faults bench-ingest bench-jobs bench-ingest-lorawan bench-policy bench-replan bench-routing classic clean fmt full install kim lint loadtest migration proto quick run test unseen

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

# The operations board is tested in a real browser: Debian's Chromium, installed when missing.
test: $(GENERATED)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pytest $(ARGS)

# Locust headless for 10 minutes against a real server with both tenants; writes bench/results/scale.json.
loadtest: $(GENERATED)
	$(BIN)/python -m bench.loadtest.run $(ARGS)

lint: $(GENERATED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(wildcard wastesvc routing adapters ngsild bench tests)
	cd proto && npx --yes @bufbuild/buf@$(BUF_VERSION) lint

fmt: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench-routing quick`, `... kim` (the 8 Kim instances), `... classic` (the others) or `PRESET=full`;
# `... unseen` (data/benchmarks/unseen, records in bench/results/routing-unseen.json, report untouched);
# `ONLY="1932 2100"` re-runs those instances of the preset.
bench-routing: $(GENERATED)
	$(BIN)/python -m bench.routing $(or $(PRESET),$(filter quick full kim classic unseen,$(MAKECMDGOALS)),quick) $(ONLY)

quick full kim classic unseen:
	@:

# Intraday re-plan of a 2,000-container day with a breakdown at 10:30 (bench/replan.py).
bench-replan: $(GENERATED)
	$(BIN)/python -m bench.replan
# A new schema revision from the difference between the models and the migrations (SQLite scratch database).
migration: $(GENERATED)
	rm -f var/migration.db
	$(BIN)/python -c "from sqlalchemy import create_engine; from wastesvc.storage._migrate import upgrade; upgrade(create_engine('sqlite:///var/migration.db'), from_scratch=True)"
	$(BIN)/python -c "from sqlalchemy import create_engine; from alembic import command; from wastesvc.storage._migrate import alembic_config; \
	e = create_engine('sqlite:///var/migration.db'); c = e.connect(); command.revision(alembic_config(c), message='$(MESSAGE)', autogenerate=True); c.commit()"

# LoRaWAN uplinks from a private Mosquitto through the adapter into the service on SQLite, with a kill -9
# of each mid-run; records in bench/results/ingest.json (path mqtt-lorawan). ARGS="--rate 6000" etc.
bench-ingest-lorawan: $(GENERATED)
	$(BIN)/python -m bench.ingest_lorawan $(ARGS)

# Selection policies on a seeded 8-week simulation of Grand Soissons (about 20 minutes on 2 cores);
# ARGS="--days 7 --no-write" for a short look.
bench-policy: $(GENERATED)
	$(BIN)/python -m bench.policy $(ARGS)
	$(BIN)/python -m bench.forecast_error

# 10,000 generated bad requests over every RPC and 3 kill -9 runs during ingest -> bench/results/robustness.json
bench-faults: $(GENERATED)
	$(BIN)/python -m bench.faults $(ARGS)

# Batched / streamed / unary ingest on SQLite and PostgreSQL next to a no-op server -> bench/results/ingest.json;
# then PostgreSQL's own floor under the batched path -> bench/results/ingest_floor.json
bench-ingest: $(GENERATED)
	$(BIN)/python -m bench.ingest $(ARGS)
	$(BIN)/python -m bench.ingest_floor

# Job engines for the planning queue (dramatiq, procrastinate, pgqueuer, celery) on the local RabbitMQ,
# Redis and PostgreSQL, about 15 minutes -> bench/results/job_engines.json; ARGS="--engines pgqueuer --kills 1".
bench-jobs: $(GENERATED)
	$(BIN)/python -m bench.job_engines $(ARGS)

clean:
	rm -rf $(VENV) out var wastesvc/v1/*_pb2*.py wastesvc/v1/*_pb2*.pyi $(GENERATED)
