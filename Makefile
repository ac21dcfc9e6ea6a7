# gansweep: every target bootstraps a venv under the repo on first use and
# installs nothing the second time (the stamp file depends on pyproject.toml).
PYTHON ?= python3
VENV   ?= .venv
# The CPU build by default. A GPU user: make sweep TORCH=torch==2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gansweep-installed

SPACE  ?= stabilizers
CONFIG ?=
STEPS  ?=
OUT    ?=
ARGS   ?=
RESUME ?=
SWEEP  ?=
RUN    ?=
N      ?= 64
PORT   ?=

.PHONY: install test test-fast sweep spaces train check lint format bench ui dashboard export report sample clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

sweep: $(STAMP)
	$(BIN)/gansweep sweep --space $(SPACE) $(if $(filter 1 yes true,$(RESUME)),--resume) \
	  $(if $(TRIALS),--trials $(TRIALS)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
	  $(if $(GPUS_PER_TRIAL),--gpus-per-trial $(GPUS_PER_TRIAL)) $(if $(DATA),--data $(DATA)) \
	  $(if $(MAX_STEPS),--max-steps $(MAX_STEPS)) $(if $(POPULATION),--population $(POPULATION)) $(ARGS)

spaces: $(STAMP)
	$(BIN)/gansweep spaces

train: $(STAMP)
	@test -n "$(CONFIG)" || (echo "usage: make train CONFIG=configs/best.yaml [STEPS=N] [OUT=dir] [RESUME=1]"; exit 2)
	$(BIN)/gansweep train --config $(CONFIG) $(if $(STEPS),--steps $(STEPS)) $(if $(OUT),--out $(OUT)) $(if $(filter 1 yes true,$(RESUME)),--resume) $(ARGS)

# optuna-dashboard over a sweep's Optuna study (default: the latest sweep), on 127.0.0.1
dashboard: $(STAMP)
	$(BIN)/gansweep dashboard $(if $(SWEEP),--sweep $(SWEEP)) $(if $(PORT),--port $(PORT)) $(ARGS)

# the best finished trial of a sweep (default: the latest) as a config, read from MLflow
export: $(STAMP)
	$(BIN)/gansweep export $(if $(SWEEP),--sweep $(SWEEP)) $(if $(OUT),--out $(OUT)) $(ARGS)

sample: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make sample RUN=<mlflow run id of make train> [N=64] [OUT=samples.png]"; exit 2)
	$(BIN)/gansweep sample --run $(RUN) --n $(N) $(if $(OUT),--out $(OUT)) $(ARGS)

report: $(STAMP)
	$(BIN)/gansweep report $(if $(SWEEP),--sweep $(SWEEP)) $(if $(OUT),--out $(OUT)) $(ARGS)

ui: $(STAMP)
	$(BIN)/gansweep ui $(if $(PORT),--port $(PORT)) $(ARGS)

check: $(STAMP)
	@test -n "$(CONFIG)" || (echo "usage: make check CONFIG=configs/digits_dcgan.yaml"; exit 2)
	$(BIN)/gansweep check --config $(CONFIG) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/trainer_vs_loop.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

# a Ray head + 1 node and an MLflow server on PostgreSQL, on this machine's loopback
# (deploy/cluster.py; docs/cluster.md); prints the variables to export for `make sweep`
.PHONY: cluster-up cluster-down cluster-status bench-cluster
cluster-up: $(STAMP)
	$(BIN)/python deploy/cluster.py up

cluster-down: $(STAMP)
	$(BIN)/python deploy/cluster.py down

cluster-status: $(STAMP)
	$(BIN)/python deploy/cluster.py status

bench-cluster: $(STAMP)
	$(BIN)/python benchmarks/cluster_throughput.py
