# The two commands: `make up` (run the platform) and `make test` (run the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock | cut -c1-12)

.PHONY: up test bench lint install servers-start servers-stop clean

# The stamp's name carries the lock's hash, so only content matters (a fresh clone's newer mtime does not).
$(STAMP): | requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -c "import pathlib, site; root = pathlib.Path.cwd(); \
	paths = [root / 'libs', *sorted(p for p in (root / 'services').iterdir() if p.is_dir())]; \
	pathlib.Path(site.getsitepackages()[0], 'crm_dev.pth').write_text(''.join(f'{p}\n' for p in paths))"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

up: install
	$(PY) scripts/up.py

# PostgreSQL, Kafka and Redis: named by CRM_TEST_* variables, else testcontainers when a Docker
# engine answers, else provisioned locally by infra/servers.py (Debian packages, Maven Central jars).
# Two workers, one per core of CI's machine: the platform under test runs inside the test process,
# so one process keeps one core busy. A module's tests stay on one worker and share its platform.
PYTEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

lint: install
	$(PY) -m ruff check .

servers-start: install
	$(PY) infra/servers.py start

servers-stop:
	$(PY) infra/servers.py stop

clean:
	rm -rf var .cache/servers
