# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Prefect writes its database under PREFECT_HOME: keep the demo's next to the project, not in ~.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_LOGGING_EXTRA_LOGGERS := prefect_oxen
# prefect_oxen's client also logs outside flow runs (CLI estimate, models): no warning for that.
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW := ignore

.PHONY: demo test check bench lint screenshots clean

# uv downloads and installs in parallel, several times faster than pip: the one on PATH, else
# one fetched from PyPI into the venv; pip is the fallback if uv fails. `dev` includes the
# `emulator` extra the demo needs.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@uv=$$(command -v uv || true); \
	if [ -z "$$uv" ] && $(PY) -m pip install --quiet --disable-pip-version-check uv; then \
		uv=$(VENV)/bin/uv; fi; \
	if [ -n "$$uv" ] && $$uv pip install --quiet --python $(PY) -e '.[dev]'; then \
		echo "installed with $$uv"; \
	else \
		echo "uv unavailable: installing with pip"; \
		$(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e '.[dev]'; \
	fi
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/prefect-oxen demo

# The static checks first (seconds), then the suite on two processes, one test file each at a
# time (module fixtures stay in one process); `$(PY) -m pytest tests/x` runs a part serially.
test: check
	$(PY) -m pytest -n 2 --dist loadfile

# Lint, format, types, docstring coverage and function shape of the package.
check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check prefect_oxen tests bench deployments
	$(VENV)/bin/mypy
	$(VENV)/bin/interrogate prefect_oxen
	$(PY) tests/quality/code_shape.py

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

# Issue 14: one batch over two workers of `prefect server start` on PostgreSQL (installed with
# apt-get when missing, as root), N = 1,000, 5,000 and 5,000 with a worker SIGKILLed halfway;
# about 30 minutes. Results in bench/results/scale_postgres_*.json.
.PHONY: bench-scale
bench-scale: $(VENV)/.installed
	$(PY) bench/scale.py --suite --jobs 5000 --database postgres

lint: check

# The browser test, also refreshing the README's screenshots in docs/screenshots/.
screenshots: $(VENV)/.installed
	PREFECT_OXEN_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/ui -q

clean:
	rm -rf $(VENV) .prefect demo-output .pytest_cache
