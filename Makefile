# Quick start: `make demo` (toy data, CAM baseline end to end), `make test`.
# Both create .venv on first use with the pinned CPU stack; later calls only
# re-install when setup.py or requirements/ change. MMCV_FULL=1 builds full
# mmcv 2.1.0 from source (~10 min) instead of mmcv-lite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c requirements/constraints.txt
MMCV_FULL ?= 0
STAMP := $(VENV)/.installed-mmcv$(MMCV_FULL)
# Steady CPU step times (glibc otherwise re-faults freed pages at random).
export MALLOC_MMAP_MAX_ ?= 0
export MALLOC_TRIM_THRESHOLD_ ?= 68719476736

.PHONY: install demo test weights clean

install: $(STAMP)

$(STAMP): setup.py requirements/*.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) 'setuptools<82' wheel
	$(PIP) torch==2.13.0
	$(PIP) -r requirements/runtime.txt -r requirements/optional.txt -r requirements/tests.txt
ifeq ($(MMCV_FULL),1)
	$(PY) -m pip uninstall -y -q mmcv-lite || true
	MMCV_WITH_OPS=1 $(PIP) --no-build-isolation mmcv==2.1.0
else
	$(PY) -m pip uninstall -y -q mmcv || true
	$(PIP) -r requirements/mmcv_lite.txt
endif
	$(PIP) --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

weights: install
	$(PY) tools/model_converters/efficientnet_lite.py

demo: install weights
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest tests -q

clean:
	rm -rf work_dirs demo_out
