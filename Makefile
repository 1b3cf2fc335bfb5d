# `make demo` and `make test` build .venv from nothing. Override the PyTorch pin with
# e.g. `make demo TORCH=torch==2.5.1`; the default is a CPU build.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo

.PHONY: demo test test-all bench lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_OUT)  # the demo always starts fresh; `oplearn run ... --resume` continues a run
	$(BIN)/oplearn run darcy --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/fno_vs_neuraloperator.py
	$(BIN)/python benchmarks/zoo.py
	$(BIN)/python benchmarks/main_job.py
	$(BIN)/python benchmarks/main_job.py --pde burgers
	$(BIN)/python benchmarks/main_job.py --pde navier-stokes
	for pde in poisson helmholtz advection-diffusion high-contrast; do $(BIN)/python benchmarks/main_job.py --pde $$pde || exit 1; done
	$(BIN)/python benchmarks/main_job.py --pde helmholtz --param k0=10
	$(BIN)/python benchmarks/burgers_solver.py
	$(BIN)/python benchmarks/datagen.py
	$(BIN)/python benchmarks/spectral_conv.py
	$(BIN)/python benchmarks/laplacian.py
	$(BIN)/python benchmarks/biharmonic.py
	$(BIN)/python benchmarks/pinn.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
