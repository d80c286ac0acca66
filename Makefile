# Each target creates .venv if absent. `make demo` and `make test` are all a fresh clone needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench docs clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch's CPU build first, so that the deep extra does not pull CUDA (DESIGN.md section 8)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,deep,scale]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/seglab demo --out seglab-demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

# Re-run the course pages at full budget (about 35 minutes on 2 cores: two of them train a
# network for minutes) and record what they print and draw (docs/course/*.md, figures/).
docs: $(STAMP)
	$(BIN)/python docs/run.py --write

# The slow checks, then the scripts whose figures are in BENCHMARKS.md (about two hours on
# 2 cores). leaderboards.py rewrites the generated leaderboard sections of BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m pytest -q -m slow
	$(BIN)/python benchmarks/leaderboards.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/unet.py
	$(BIN)/python benchmarks/course_protocol.py
	$(BIN)/python benchmarks/classical.py
	$(BIN)/python benchmarks/pixel_classifiers.py --methods rf --variant rf:select_features=30 --variant rf:select_features=30,n_estimators=25
	$(BIN)/python benchmarks/pixel_other_data.py
	$(BIN)/python benchmarks/crossval.py --method rf

clean:
	rm -rf $(VENV) seglab-demo .pytest_cache build src/*.egg-info
