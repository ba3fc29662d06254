# The README's two commands: `make demo` and `make test`. Both build .venv on a fresh machine.
PYTHON_FOUND := $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BACKENDS := .venv-backends
BACKENDS_STAMP := $(BACKENDS)/.installed
OLD_ROUTILUX := .venv-routilux011
OLD_ROUTILUX_STAMP := $(OLD_ROUTILUX)/.installed
PY311 := .venv-py311
PY311_STAMP := $(PY311)/.installed
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

.PHONY: demo test lint backends browser bench peers dist clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON_FOUND)" || { echo "no Python >= 3.12 found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON_FOUND) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# A real collector (rotel) and trace backend (Arize Phoenix) for the integration tests, in their
# own virtualenv so Phoenix's dependencies and pytest plugin stay out of the project's.
$(BACKENDS_STAMP):
	@test -n "$(PYTHON_FOUND)" || { echo "no Python >= 3.12 found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON_FOUND) -m venv $(BACKENDS)
	$(BACKENDS)/bin/python -m pip install --quiet --upgrade pip
	$(BACKENDS)/bin/python -m pip install --quiet rotel==0.0.1a15 arize-phoenix==20.26.1
	@touch $(BACKENDS_STAMP)

backends: $(BACKENDS_STAMP)

# routilux 0.11 (the older Flow.execute API) cannot share a virtualenv with routilux 1.x;
# it pins serilux 0.3.1 (serilux 0.4+ breaks its JobState.save).
$(OLD_ROUTILUX_STAMP): pyproject.toml
	@test -n "$(PYTHON_FOUND)" || { echo "no Python >= 3.12 found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON_FOUND) -m venv $(OLD_ROUTILUX)
	$(OLD_ROUTILUX)/bin/python -m pip install --quiet --upgrade pip
	$(OLD_ROUTILUX)/bin/python -m pip install --quiet -e . pytest pytest-asyncio routilux==0.11.0 serilux==0.3.1
	@touch $(OLD_ROUTILUX_STAMP)

# The oldest Python otel_exec supports with the oldest OpenTelemetry it allows (the main lane has
# the newest), and what installs there: falyx 0.1.8x (falyx 0.2 needs 3.12) and routilux;
# dataknobs-fsm needs 3.12, so its tests skip, as do the fast paths' own tests (their gates
# stay closed on releases they were not verified against).
$(PY311_STAMP): pyproject.toml .ci/opentelemetry-oldest.txt
	$(eval PYTHON311_FOUND := $(shell scripts/find-python 3.11))
	@test -n "$(PYTHON311_FOUND)" || { echo "no Python 3.11 found; set PYTHON311=..." >&2; exit 1; }
	$(PYTHON311_FOUND) -m venv $(PY311)
	$(PY311)/bin/python -m pip install --quiet --upgrade pip
	$(PY311)/bin/python -m pip install --quiet -e '.[dev]' -c .ci/opentelemetry-oldest.txt
	@touch $(PY311_STAMP)

# Debian's Chromium for the viewer's browser tests (Playwright drives it).
browser:
	scripts/install-browser

demo: $(STAMP)
	$(BIN)/otel-exec demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint backends browser $(OLD_ROUTILUX_STAMP) $(PY311_STAMP)
	$(BIN)/python -m pytest -q
	$(PY311)/bin/python -m pytest -q -n 2 -m "not integration" --ignore=tests/browser \
		--ignore=tests/test_viewer.py --ignore=tests/test_benches.py
	$(OLD_ROUTILUX)/bin/python -m pytest -q -p no:cacheprovider -o addopts="" \
		tests/instrumentation/test_routilux_011.py

bench: $(STAMP)
	$(BIN)/python bench/bench_core.py

# The libraries bench/bench_peers.py compares @traced with, in a virtualenv of their own.
$(PEERS_STAMP): pyproject.toml
	@test -n "$(PYTHON_FOUND)" || { echo "no Python >= 3.12 found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON_FOUND) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet -e . logfire openinference-instrumentation
	$(PEERS)/bin/python -m pip install --quiet traceloop-sdk || echo "traceloop-sdk does not install beside the OpenTelemetry releases here: OpenLLMetry is left out"
	@touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)
	$(PEERS)/bin/python bench/bench_peers.py

# A wheel to install elsewhere: pip install dist/otel_exec-*.whl (add [falyx] etc. for the
# frameworks).
dist: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) $(BACKENDS) $(OLD_ROUTILUX) $(PY311) dist
