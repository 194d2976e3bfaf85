# mouselift — the two commands: `make demo` and `make test` (both install into .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= -n 2
# the optional compiled CPU rasteriser (plain C; any C compiler, e.g. Debian's gcc)
NATIVE := src/mouselift/splat/native
NATIVE_STAMP := $(VENV)/.native

# the built-in models: one seeded, resumable build (a few hours on 2 CPU cores; re-run to
# resume), then installed into the package (checked against their records, ≤ 20 MB)
WEIGHTS_BUILD ?= build/builtin
WEIGHTS_RECIPE ?= small

.PHONY: install demo test lint bench weights clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NATIVE_STAMP): $(STAMP) $(wildcard $(NATIVE)/*.c $(NATIVE)/*.h) $(NATIVE)/__init__.py
	$(BIN)/python -m mouselift.splat.native build --optional
	touch $(NATIVE_STAMP)

install: $(STAMP) $(NATIVE_STAMP)

demo: install
	$(BIN)/mouselift demo out/demo

lint: install
	$(BIN)/ruff check src tests bench

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/prepare.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/stage2_render.py
	$(BIN)/python bench/mvdiff.py
	$(BIN)/python bench/gslrm.py
	$(BIN)/python bench/threads.py

weights: install
	$(BIN)/mouselift train builtin $(WEIGHTS_BUILD) --config $(WEIGHTS_RECIPE)
	$(BIN)/python -m mouselift.weights install $(WEIGHTS_BUILD)/models

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
