# dcwatch developer loop. Every target creates .venv with `python3 -m venv` when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
DB ?= demo.db

.PHONY: demo test test-fast lint fmt bench docs eval fixtures lab system-deps clean fuzz

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEVSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP) $@

DEMO_DATA ?= tests/data/recordings/killchain
PORT ?= 8080

# The main job on the embedded default: SQLite store, the bundled kill-chain recording (the
# Samba AD lab's capture and audit log), then the portal on http://127.0.0.1:$(PORT).
demo: $(STAMP)
	@rm -f $(DB) $(DB)-wal $(DB)-shm
	$(BIN)/dcwatch scan $(DEMO_DATA) --db $(DB) --format table --no-activities
	$(BIN)/dcwatch incidents --db $(DB)
	$(BIN)/dcwatch serve --db $(DB) --demo --host 127.0.0.1 --port $(PORT)

system-deps:
	@bash scripts/system_deps.sh

test: $(DEVSTAMP) system-deps
	$(BIN)/python -m pytest

test-fast: $(DEVSTAMP)
	$(BIN)/python -m pytest -m "not slow and not lab and not browser"

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench scripts lab
	$(BIN)/mypy
	$(BIN)/ruff format --check src tests bench scripts || true

fmt: $(DEVSTAMP)
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

eval: $(STAMP)
	$(BIN)/dcwatch eval

bench: $(DEVSTAMP)
	$(BIN)/python bench/evtx_throughput.py
	$(BIN)/python bench/pcap_throughput.py
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/python bench/live_capture.py; else echo "live capture bench needs root"; fi

# Coverage-guided fuzzing (atheris) of every decoder target for FUZZ_SECONDS each; the corpora
# grow in fuzz-corpus/ (seeded from the recordings), a crash stops with the input saved.
FUZZ_SECONDS ?= 300
fuzz: $(DEVSTAMP)
	@for t in packets capture decoders events evtx; do \
	  echo "== $$t"; \
	  $(BIN)/python tests/fuzz/atheris_fuzz.py $$t -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -artifact_prefix=fuzz-corpus/crash-$$t- fuzz-corpus/$$t || exit 1; \
	done

# Regenerate the tshark oracles of the protocol tests (dev only: needs tshark).
fixtures: $(DEVSTAMP)
	$(BIN)/python tests/data/protocols/synthetic-dc.pcap.py
	$(BIN)/python scripts/make_tshark_oracles.py
	@if [ -f scripts/make_tshark_oracles_smb_rpc.py ]; then $(BIN)/python scripts/make_tshark_oracles_smb_rpc.py; fi

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

lab:
	$(PY) lab/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis $(DB)
