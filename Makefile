# `make demo` and `make test` work on a fresh machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,web]'
	@touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,web,bench]'
	@touch $(BENCH_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m examples $(EXAMPLE)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy src/conveyor

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench examples
	$(VENV)/bin/ruff check --fix src tests bench examples

# Two passes: most tests on TEST_WORKERS pytest-xdist processes (they mostly wait on databases,
# servers and subprocesses), then the `serial` ones (worker processes, timed windows) alone, so
# another test's load never skews their timing. Both passes always run; either failing fails the
# target. PYTEST_ARGS goes to both (a pass it leaves empty, exit 5, is not a failure); give it no
# -m of its own. TEST_WORKERS=0 runs the first pass in this process.
TEST_WORKERS ?= 2
PYTEST_PASS = { $(PY) -m pytest $(1) $(PYTEST_ARGS) || [ $$? -eq 5 ]; }

test: lint
	@status=0; \
	$(call PYTEST_PASS,-n $(TEST_WORKERS) --dist worksteal -m "not serial") || status=1; \
	$(call PYTEST_PASS,-m serial) || status=1; \
	exit $$status

bench: $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
