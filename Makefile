# Two commands do all the set-up on a fresh clone:
#   make run    creates .venv on first use, installs Studio and the default offline models, opens the application
#   make test   the same set-up, then ruff, import-linter and the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.studio-installed
MODELS_STAMP := $(VENV)/.studio-models

.PHONY: setup models run test lint system-deps training-photos gan-data

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py studio/core/nets/_relu_max_pool.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The default offline models (see `studio models list`). Offline, Studio still runs and each plugin says
# what it is missing; under CI a failed install fails the run, so the real-weight tests never skip silently.
# Weights a plugin ships (plugins/*/assets) install again when they change.
models: $(MODELS_STAMP)

$(MODELS_STAMP): $(STAMP) $(wildcard plugins/*/assets/*.safetensors)
	$(BIN)/studio models install --defaults && touch $@ || { test -z "$$CI" && echo "Some models could not be installed: run 'make models' again when online."; }

run: $(MODELS_STAMP)
	bash scripts/system-deps.sh $(VENV)
	$(BIN)/studio $(FILES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# ICC profiles the export tests use (apt-get as root when they are missing; a note otherwise).
system-deps:
	bash scripts/system-deps.sh --icc-only

test: lint system-deps $(MODELS_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS); \
	status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

# The photographs the inpainting network trains on, from installable packages (Debian packages are downloaded, not
# installed; see packaging/training_photos.py): train/, validation/, SOURCES.json and LICENSES.md in $(PHOTOS).
PHOTOS ?= data/photos

training-photos: $(STAMP)
	$(BIN)/python packaging/training_photos.py $(PHOTOS)

# The pictures the style-based GAN trains on, rendered by Studio's own Generative rules plugin (no outside data; see
# plugins/gan_breeding/rules_data.py): train/, heldout/ and SOURCES.json in $(GAN_DATA).
GAN_DATA ?= data/gan-rules

gan-data: $(STAMP)
	$(BIN)/python scripts/gan_data.py $(GAN_DATA)
