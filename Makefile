# The two commands of the README:
#   make run    set up .venv on a fresh machine (if needed) and run the default workflow
#   make test   set up .venv (if needed) and run the test suite (CI runs exactly this)
# Other targets: make install | make lint | make dry-run | make report | make clean

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A marker newer than pyproject.toml means the environment is up to date.
STAMP := $(VENV)/.installed
CORES ?= all
GPUS ?= 1

.PHONY: install run test lint dry-run report clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU wheel pins the torchvision that fits it (see README, Installation).
	$(BIN)/python -m pip install torch==2.13.0 torchvision==0.28.0
	$(BIN)/python -m pip install -e ".[all]"
	touch $(STAMP)

run: install
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS)

report: install
	$(BIN)/snakemake --report results/report.html

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src scripts tests

dry-run: install
	$(BIN)/snakemake -n --quiet rules

clean:
	rm -rf results .snakemake
