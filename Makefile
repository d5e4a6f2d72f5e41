# One place for every routine command. `make setup` is idempotent.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
CIR     := .venv/bin/cir

.PHONY: setup test test-fast lint typecheck demo plugins clean reliability

setup: .venv/.installed

.venv/.installed: pyproject.toml constraints.txt
	test -d .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	# constraints.txt pins torch to the CPU wheel that lies on the machine's disk.
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $@

lint: setup
	.venv/bin/ruff check .

# pyright's checker (basedpyright, from PyPI with its own Node.js) over the runtime packages
# (pyproject.toml's [tool.basedpyright]), through build/typecheck: the package-dir mapping as
# a tree of links that it can follow (tools/typecheck_tree.py says why). `-p pyproject.toml`:
# a pyrightconfig.json in a folder above the checkout would otherwise win (a clone in /tmp
# checked all of /tmp).
typecheck: setup
	$(PY) -m tools.typecheck_tree > /dev/null
	.venv/bin/basedpyright -p pyproject.toml

test: setup plugins lint typecheck
	.venv/bin/pytest -q

test-fast: setup
	.venv/bin/pytest -q -m "not slow"

demo: setup
	$(CIR) demo

# The daemon's reliability suite (tools/reliability/) -> docs/RELIABILITY.md: fuzz,
# load, killed builds and daemons, catalogue churn, memory, another user (as root). About
# 10 minutes on 2 shared cores; stopped after 30 whatever happens. CI runs its short form.
RELIABILITY_TIMEOUT ?= 1800
reliability: setup
	timeout $(RELIABILITY_TIMEOUT) nice $(PY) -m tools.reliability --out docs/RELIABILITY.md

# Native DPF plugins (VST3, CLAP, LV2) into build/plugins/: the CIR Bridge effect and the test
# instrument. They build against a patched copy of Debian's dpf-source in build/dpf
# (plugin_bridge/native/patch-dpf.sh explains the two fixes); DPF's code is never committed.
DPF_SRC     ?= /usr/share/dpf
DPF_COPY    := build/dpf
PLUGIN_DIRS := tests/plugins/cir_test_synth plugin_bridge/native

plugins: $(DPF_COPY)/.patched
	+@for d in $(PLUGIN_DIRS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d || exit 1; fi; \
	done

$(DPF_COPY)/.patched: plugin_bridge/native/patch-dpf.sh
	sh plugin_bridge/native/patch-dpf.sh $(DPF_SRC) $(DPF_COPY)
	touch $@

clean:
	rm -rf var build
