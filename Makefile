# The two commands of the README:
#   make run    set up .venv on a fresh machine (if needed) and run the default workflow
#   make test   set up .venv (if needed) and run the test suite (CI runs exactly this)
# Other targets: make install | make lint | make dry-run | make report | make gpu-check |
#                make clean

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pip extras to install (README, "Installation"); on a CUDA machine: make install EXTRAS=all,gpu
EXTRAS ?= all
# A marker newer than pyproject.toml means the environment is up to date for these extras.
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
CORES ?= all
# GPUs a JAX job may hold: 1 where an NVIDIA GPU answers `nvidia-smi -L`, else 0 (JAX jobs
# then run on the CPU, knowingly). Override with `make run GPUS=0` or `GPUS=1`.
GPUS ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1 || echo 0)

.PHONY: install run test lint dry-run report gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU wheel pins the torchvision that fits it (see README, Installation).
	$(BIN)/python -m pip install torch==2.13.0 torchvision==0.28.0
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

run: install
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS)

report: install
	$(BIN)/snakemake --report results/report.html

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src scripts tests bench
	$(BIN)/snakefmt --check Snakefile rules

dry-run: install
	$(BIN)/snakemake -n --quiet rules

# Measures HiRef on a CUDA GPU (bench/gpu_check.py); exits with a message where there is none.
gpu-check: install
	$(BIN)/python bench/gpu_check.py --out bench/results/gpu_check.json

clean:
	rm -rf results .snakemake
