# instrumentid — `make demo` and `make test` work on a fresh machine and are quick when set up.
# The virtual environment lives in .venv; constraints/ci.txt pins what gets installed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PIN    := -c constraints/ci.txt
# CPU build of torch: pinned first so no other package pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0
# chromium: the web page's real-browser test (Playwright drives it; its own browser download is unreachable)
SYSTEM_PACKAGES := fluidsynth fluid-soundfont-gm musescore-general-soundfont timgm6mb-soundfont chromium
EXAMPLE := src/instrumentid/assets/example.ogg

ZOO_VENV := .venv-zoo
# timm needs torchvision; on this platform it imports only beside these (CUDA) builds.
ZOO_TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: help setup setup-dev system demo test test-fast test-zoo bench default-model default-model-quick fast-model onnx-models experiments serve clean

help:
	@echo "make demo           set up, then predict with the bundled model on the bundled example"
	@echo "make test           set up (incl. FluidSynth, SoundFonts, chromium via apt when root), run all tests"
	@echo "make default-model  re-run the recipe of the bundled default and audioset-zeroshot models (~60 min, 2 CPU cores)"
	@echo "make fast-model     re-run the recipe of the bundled fast model (small CNN, ~45 min)"
	@echo "make onnx-models    re-export every shipped model's graph (the one file per model) with this exporter, checked"
	@echo "make experiments    the small-budget comparison of docs/experiments.md (~30 min, 2 CPU cores)"
	@echo "make bench          speed benchmarks (predict, synth, the server under load)"
	@echo "make test-zoo       the timm backbone in .venv-zoo (torch 2.14.1 + torchvision, ~5.5 GB)"
	@echo "make serve          HTTP server with a web page on http://127.0.0.1:8000"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record what was installed; they are rebuilt when pyproject or the pins change.
$(VENV)/.core: pyproject.toml constraints/ci.txt | $(BIN)/python
	$(PIP) install -q --upgrade pip $(PIN) || true
	$(PIP) install -q $(PIN) $(TORCH)
	$(PIP) install -q $(PIN) -e '.[train]'
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) install -q $(PIN) -e '.[dev]'
	touch $@

setup: $(VENV)/.core
setup-dev: $(VENV)/.dev

# FluidSynth and the General-MIDI SoundFonts for `instrumentid synth`, chromium for the page test (Debian/Ubuntu).
system:
	@if command -v fluidsynth >/dev/null && ls /usr/share/sounds/sf2/FluidR3_GM.sf2 >/dev/null 2>&1 \
	    && command -v chromium >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(SYSTEM_PACKAGES)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)) >/dev/null; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); \
	else echo "note: install FluidSynth and a General-MIDI SoundFont for 'instrumentid synth', and chromium for the page test (tests needing them are skipped)"; fi

demo: setup
	$(BIN)/instrumentid predict $(EXAMPLE) --segments --format table
	@echo
	$(BIN)/instrumentid predict $(EXAMPLE) --format json

test: setup-dev system
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-fast: setup-dev
	$(BIN)/python -m pytest -m "not slow"

# The timm backbone in its own environment (about 5.5 GB: CUDA builds of torch/torchvision).
$(ZOO_VENV)/.zoo: pyproject.toml
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/python -m pip install -q $(ZOO_TORCH)
	$(ZOO_VENV)/bin/python -m pip install -q -e '.[zoo]' pytest 'timm>=1.0'
	touch $@

test-zoo: $(ZOO_VENV)/.zoo
	$(ZOO_VENV)/bin/python -m pytest tests/test_zoo.py tests/test_bundle.py -p no:cacheprovider

bench: setup-dev
	$(BIN)/python benchmarks/predict_speed.py
	$(BIN)/python benchmarks/synth_speed.py
	$(BIN)/python benchmarks/serve_load.py
	$(BIN)/python benchmarks/batch_speed.py

default-model: setup-dev system
	$(BIN)/python recipes/default_model.py

default-model-quick: setup-dev system
	$(BIN)/python recipes/default_model.py --quick --out runs/quick-default/bundles

fast-model: setup-dev system
	$(BIN)/python recipes/fast_model.py

# A shipped model is one file, src/instrumentid/assets/NAME.onnx (graph + metadata + every weight):
# after a change to the exporter, this rebuilds each bundle from its graph, exports it again and
# checks the records of onnxruntime against PyTorch (the recipes ship new models with export.ship).
onnx-models: setup-dev
	$(BIN)/python recipes/onnx_models.py

experiments: setup-dev system
	$(BIN)/python recipes/experiments.py

serve: setup-dev
	$(BIN)/instrumentid serve

clean:
	rm -rf $(VENV) $(ZOO_VENV) .pytest_cache runs build dist src/*.egg-info
