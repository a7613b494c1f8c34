# Two commands matter on a fresh machine (see README):
#   make demo   runs the main job on an example
#   make test   runs the whole test suite (what CI runs)
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
# llama.cpp is compiled when llama-cpp-python installs. These flags keep the
# wheel portable (AVX2/FMA still on) and skip the multimodal library.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-python test-extension bench venv system-deps extension clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	@# _prefault is built once for every CPython (_prefault.abi3.so); a build for one
	@# interpreter left by an older install would be loaded before it.
	@rm -f inference/tracer/_prefault.cpython-*.so
	$(PY) -m pip install -q -e ".[train,test]"
	@touch $@

# Debian packages the tests drive: a real Neovim, Chromium for code-server, and
# what code-server's install needs. Installs only what is missing.
system-deps:
	@bash scripts/install-system-deps.sh

extension: system-deps
	@bash scripts/build-extension.sh

demo: $(VENV_STAMP)
	$(PY) -m semcoder_lsp.demo examples/demo_project/shapes.py

test: $(VENV_STAMP) system-deps extension
	$(PY) -m pytest -ra

bench: $(VENV_STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf .venv .cache build *.egg-info vscode-extension/node_modules vscode-extension/dist
