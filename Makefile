# Two commands on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench bench-quick soak fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/resil-tui --demo

# Three workers on two cores: most tests wait on SSH round trips and lab timings, not CPU.
# A module's tests stay on one worker (module-scoped sshd fixtures start once); files go
# out in collection order, which tests/conftest.py starts with the slowest one.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m 'not slow and not sshd'

lint: $(STAMP)
	$(BIN)/ruff check resil_tui tests bench
	$(BIN)/ruff format --check resil_tui tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture

bench: $(STAMP)
	$(BIN)/python -m bench

# Every benchmark in a short form (under 120 s), each ending with its RESULT line.
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

soak: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -p no:cacheprovider

# The security tier's properties with the large hypothesis profile (>= 10,000 cases in
# all; `make test` runs the same properties with the small default profile).
fuzz: $(STAMP)
	RESIL_TUI_HYPOTHESIS=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider tests/security -m 'not sshd'

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
