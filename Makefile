# One place for every routine command. `make setup` is idempotent.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
CIR     := .venv/bin/cir

.PHONY: setup test test-fast lint demo plugins clean

setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -d .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU wheel of this version lies on the machine's disk.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $@

lint: setup
	.venv/bin/ruff check .

test: setup plugins lint
	.venv/bin/pytest -q

test-fast: setup
	.venv/bin/pytest -q -m "not slow"

demo: setup
	$(CIR) demo

plugins:
	@if [ -f plugin_bridge/native/Makefile ]; then $(MAKE) -C plugin_bridge/native; fi

clean:
	rm -rf var build
