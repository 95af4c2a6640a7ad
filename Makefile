# s3vault — the two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN    := $(VENV)/.installed-run

.PHONY: demo test fuse3 lint lock man bench bench-scaling bench-index bench-prune bench-fleet bench-long torture loadtest clean

# s3vault itself (what the demo needs), then the test and lint tools on top. They install
# with uv (Astral's installer, from PyPI into the venv: the same packages at the versions of
# constraints.txt, compiled as pip compiles them) in about 14 s where pip took about 33 s of a
# clean clone's `make test`; where uv cannot be had, with pip as before.
UV_VERSION ?= 0.13.9
UV := $(VENV)/bin/uv
INSTALL = if [ -x $(UV) ]; then $(UV) pip install --quiet --compile-bytecode --python $(PY) $(1); \
	else $(PY) -m pip install --quiet $(1); fi

$(RUN): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION) 2>/dev/null || $(PY) -m pip install --quiet --upgrade pip
	$(call INSTALL,-c constraints.txt -e .)
	touch $(RUN)

EXTRAS := .[test,lint,mount,report]
$(STAMP): $(RUN)
	$(call INSTALL,-c constraints.txt -e '$(EXTRAS)')
	touch $(STAMP)

# The mount tests need libfuse3 (Debian's fuse3): installed when missing and root, as .ci/run
# installs restic; without it those tests skip and say why
fuse3:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libfuse3\.so\.3' && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null; then \
	  timeout 300 sh -c 'apt-get install -y -qq fuse3 || { apt-get update -qq && apt-get install -y -qq fuse3; }' \
	    >/dev/null 2>&1 || echo "make: fuse3 could not be installed: the mount tests will skip" >&2; \
	fi

## lock: move the tools the suite runs on to the newest releases and record them in
## constraints.txt (every `make test` installs exactly those, so a release of a test dependency
## cannot turn a clean checkout red); run `make test` before committing the new file
lock:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --upgrade -e '.[test,lint,mount,report]'
	( echo "# The versions \`make test\` installs (make lock refreshes them). Generated: do not edit."; \
	  $(PY) -m pip freeze --exclude-editable ) > constraints.txt
	touch $(STAMP)

## demo: init a local repository, back up a sample tree twice, restore it and prove it equal
demo: $(RUN)
	$(PY) scripts/demo.py

## test: install what the tests need and run the whole suite. Four workers on two cores: the
## S3 servers (moto in each worker, Swift as processes) and the SIGSTOP tests' real waits overlap
## the CPU-bound rest (clean clones here: 300 s with 4 workers against 353 s with 3; memory
## about 1.4 GB with 3). The suite spends its time as CPU: CLI commands are forked from a server
## that has imported s3vault once (tests/cliserver.py; the docs pages' shells reach it through
## tests/clishim.py), with S3VAULT_TEST_FRESH_PROCESS=1 they start the console script instead;
## grace periods pass by simulated time (tests/timetravel.py). The longest tests start first
## (tests/conftest.py LONGEST_FIRST) and idle workers steal queued tests, so no worker ends
## alone with the damage campaign.
## Compiled modules are kept (in .pycache/, out of the tree) even where the environment says
## PYTHONDONTWRITEBYTECODE=1, as this machine's does: otherwise every worker, server and
## console-script process compiles s3vault and the tests from source again.
PYTEST_WORKERS ?= 4
test: $(STAMP) fuse3
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/.pycache \
		$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

## lint: ruff (check + format), mypy --strict on src/, and the layering contracts
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts docs/examples
	$(VENV)/bin/ruff format --check src tests bench scripts docs/examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## man: a man page per command into man/ (man -l man/s3vault-backup.1; install them with
## install -m 644 man/*.1 /usr/local/share/man/man1/); tests/test_man.py checks every command's
man: $(STAMP)
	$(PY) scripts/man.py man

## bench: corpus → s3vault and (if installed) restic side by side; prints a table
bench: $(STAMP)
	$(PY) bench/compare.py

## bench-scaling: s3vault and restic from 1 core to 2 (taskset), the model fitted to them for 8
## and 16 cores, and each s3vault process's CPU; the bench corpus: BENCH_SCALING_ARGS="--scale 1"
bench-scaling: $(STAMP)
	$(PY) bench/scaling.py --trace $(BENCH_SCALING_ARGS)

## torture: the crash and concurrency tests at nightly strength (200 random kill rounds), and
## the damage campaign's whole cross product (every object × every mutation, local and S3;
## its report, every failure included, goes to campaign-report.txt)
torture: $(STAMP)
	S3VAULT_TORTURE_ROUNDS=200 $(PY) -m pytest -q tests/cli/test_kill_loop.py \
		tests/cli/test_prune.py tests/cli/test_suspend.py tests/cli/test_concurrency.py \
		tests/maintenance
	rm -f campaign-report.txt
	S3VAULT_CAMPAIGN=full S3VAULT_CAMPAIGN_REPORT=campaign-report.txt $(PY) -m pytest -q -n 2 \
		tests/test_damage_campaign.py

## loadtest: 50 backup processes + prune into one S3 repository on moto, then 1,000 logical
## clients through the library API (not in CI)
loadtest: $(STAMP)
	$(PY) bench/loadtest.py

## bench-index: memory of the chunk index at 10 million blobs
bench-index: $(STAMP)
	$(PY) bench/index_memory.py

## bench-prune: peak RSS and time of verify and prune on a repository of 10 million blobs in
## 100,000 packs, built through the library (tiny blobs; about 7 minutes and 1.5 GB of disk
## here). Smaller: make bench-prune BENCH_PRUNE_ARGS="--blobs 1000000"
BENCH_PRUNE_ARGS ?=
bench-prune: $(STAMP)
	$(PY) bench/prune_memory.py $(BENCH_PRUNE_ARGS)

## bench-fleet: a new host's first backup and `snapshots` in a repository of 30,000 snapshots of
## 1,000 hosts on the S3 test server, before and after snapshot group tags (GETs and time)
bench-fleet: $(STAMP)
	$(PY) bench/fleet_snapshots.py

## bench-long: a 20 GB generated stream (random and text-like runs, made on the fly) through
## `backup --stdin` into a fresh repository under /tmp (a disk, not tmpfs; deleted after):
## throughput per quarter and RSS over time (docs/capacity.md). Quick: BENCH_LONG_ARGS="--gigabytes 2"
BENCH_LONG_ARGS ?=
bench-long: $(STAMP)
	$(PY) bench/long_run.py $(BENCH_LONG_ARGS)

clean:
	rm -rf $(VENV) demo bench-out .pytest_cache .mypy_cache .ruff_cache .pycache campaign-report.txt
