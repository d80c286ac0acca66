# Each target creates .venv if absent. `make demo` and `make test` are all a fresh clone needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A local copy of the data sets (voced/imagedata, ...) beside the checkout, if there is one: the
# tests and pages read it instead of downloading the course data (`seglab data`).
ifneq ($(wildcard ../shared/data/voced),)
export SEGLAB_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test test-all lint bench docs docs-site clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch's CPU build first, so that the deep extra does not pull CUDA
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,deep,scale,interop,mrf,docs,napari]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/seglab demo --out seglab-demo

# napari's tests run on Xvfb: .ci/gui-packages installs it and Qt's X libraries where missing.
# Two test processes (pytest-xdist): 12.6 minutes on 2 cores against about 19 in one.
TEST_PROCESSES ?= 2
test: $(STAMP)
	.ci/gui-packages
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES)

test-all: $(STAMP)
	.ci/gui-packages
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs conftest.py
	$(BIN)/ruff format --check src tests benchmarks docs conftest.py

# The documentation as a website in site/ (MkDocs, Material theme, mkdocstrings), built strict:
# a broken link or reference fails. The command-line reference is regenerated first.
docs-site: $(STAMP)
	$(BIN)/python docs/cli_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Re-run the documentation's pages at full budget and record what they print: the course pages
# here (about 35 minutes on 2 cores; they draw docs/course/figures/), the user guide and the
# README's tour in a scratch folder holding a link data/ to the data sets, so their files stay
# out of the tree; then napari's widgets, screenshot by their test into docs/guide/figures/.
DOCS_RUN := build/docs-run
docs: $(STAMP)
	test -e data || ln -s "$$($(BIN)/seglab data)" data
	$(BIN)/python docs/run.py --write docs/course/[0-9]*.md
	rm -rf $(DOCS_RUN) && mkdir -p $(DOCS_RUN)/project && ln -s "$$($(BIN)/seglab data)" $(DOCS_RUN)/project/data
	$(BIN)/python docs/run.py --write --root $(DOCS_RUN)/project docs/guide/*.md README.md
	SEGLAB_SCREENSHOTS=docs/guide/figures $(BIN)/python -m pytest -q tests/test_napari.py -k screenshots

# The slow checks, then every script whose figures are in BENCHMARKS.md (about two hours on
# 2 cores): record.py runs each and replaces its section; leaderboards.py writes its own.
RECORD := $(BIN)/python benchmarks/record.py
bench: $(STAMP)
	$(BIN)/seglab data > /dev/null
	$(BIN)/python -m pytest -q -m slow
	$(RECORD) speed -- benchmarks/pixel_classifiers.py --methods rf --variant rf:context=false --variant rf:context=false,n_estimators=25,select_features=30 --variant rf:context=false,n_estimators=10,max_depth=14,select_features=24
	$(RECORD) unet-cpu --fence -- benchmarks/unet_cpu.py
	$(RECORD) limits -- benchmarks/nc_border_sensitivity.py
	$(RECORD) other-data -- benchmarks/pixel_other_data.py --data bacteria
	$(RECORD) many-files --fence -- benchmarks/many_files.py
	$(RECORD) soak --fence -- benchmarks/soak.py
	$(RECORD) predict-nc --fence -- benchmarks/predict_nc.py
	$(RECORD) cells --fence -- benchmarks/cells.py
	$(RECORD) cell-types -- benchmarks/cell_types.py
	$(RECORD) slides --fence -- benchmarks/scale.py
	$(RECORD) slide-io --fence -- benchmarks/slide_io.py
	$(RECORD) napari-live --fence -- benchmarks/napari_live.py
	$(BIN)/python benchmarks/leaderboards.py
	$(RECORD) mrf -- benchmarks/mrf_course.py
	$(RECORD) unet --fence --keep '^(command|machine|unet on|  .*trained in)' -- benchmarks/unet.py

clean:
	rm -rf $(VENV) seglab-demo .pytest_cache build site src/*.egg-info
