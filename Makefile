# powerpeg — every target sets itself up; nothing here needs a manual step.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOXIPROXY_VERSION := v2.12.0
STAMP := $(VENV)/.installed

.PHONY: setup demo test unit integration bench clean images lint

setup: $(STAMP) $(BIN)/toxiproxy-server-check $(BIN)/pp-qfclient-check

$(BIN)/python:
	$(PY) -m venv $(VENV)

# re-install only when the project metadata or the C framer changed (idempotent,
# fast when warm); the C framer is built when a compiler is here, else skipped
$(STAMP): pyproject.toml setup.py targets/fix/_speedups.c | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip >/dev/null
	@# setuptools warns about every editable install with an extension; nothing to act on
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install -q -e '.[dev]'
	@$(BIN)/python -c 'import powerpeg.targets.fix._speedups' 2>/dev/null \
	  || echo "note: no C compiler: the exchange runs its Python FIX framer (slower; see docs/targets.md)"
	touch $(STAMP)

# toxiproxy-server has no PyPI/Debian package: build it with Go when Go is here
# and no binary is on PATH. Without Go, network-fault experiments are refused
# with that reason and everything else still runs.
.PHONY: $(BIN)/toxiproxy-server-check
$(BIN)/toxiproxy-server-check: | $(BIN)/python
	@if [ -x $(BIN)/toxiproxy-server ] || command -v toxiproxy-server >/dev/null; then :; \
	elif command -v go >/dev/null; then \
	  echo "installing toxiproxy-server $(TOXIPROXY_VERSION) with go install"; \
	  GOBIN=$(abspath $(VENV))/gobin go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION) \
	    && ln -sf $(abspath $(VENV))/gobin/server $(BIN)/toxiproxy-server \
	    || echo "warning: go install of toxiproxy-server failed; network faults unavailable"; \
	else echo "note: Go not found; toxiproxy-server not installed (network faults unavailable)"; fi

# QuickFIX/Go, the independent FIX engine of the interop tests (tests/interop/):
# built when Go is here; without Go those tests skip (CI requires them).
QFCLIENT_SRC := $(wildcard tests/interop/qfclient/*.go) tests/interop/qfclient/go.mod tests/interop/qfclient/go.sum
.PHONY: $(BIN)/pp-qfclient-check
$(BIN)/pp-qfclient-check: | $(BIN)/python
	@if command -v go >/dev/null; then $(MAKE) -s $(BIN)/pp-qfclient; \
	else echo "note: Go not found; QuickFIX/Go interop client not built (tests/interop skip)"; fi
$(BIN)/pp-qfclient: $(QFCLIENT_SRC) | $(BIN)/python
	@echo "building QuickFIX/Go interop client (tests/interop/qfclient)"
	cd tests/interop/qfclient && go build -o $(abspath $(BIN))/pp-qfclient .

demo: setup
	$(BIN)/powerpeg demo

# two workers: the Docker tests (one group, one after another) beside the rest (tests/conftest.py)
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) $(PYTEST_ARGS)

unit: setup
	$(BIN)/python -m pytest -q tests/unit

integration: setup
	$(BIN)/python -m pytest -q tests/integration

# Images of the compose backend, built offline (compose/build-images.sh): a
# local base image when BASE_IMAGE cannot be pulled, a host wheelhouse, and
# every image; unchanged inputs are not rebuilt. `powerpeg images` (harness/images_cmd.py)
# runs the script as an installed powerpeg runs it; from here, on this checkout's sources.
BASE_IMAGE ?= python:3.11-slim
images: setup
	BASE_IMAGE=$(BASE_IMAGE) $(BIN)/powerpeg images

# ruff (style and the rules our noqa comments name) and mypy (types), as CI runs them
lint: setup
	$(BIN)/ruff check harness targets bench tests tools
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info targets/fix/_speedups*.so
