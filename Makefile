# Convenience targets for the squad kit. Everything here is also reachable without make:
# conda env create -f environment.yml, then the `squad` commands and `pytest`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.squad-installed

# Offline machines (and CI) read download-only dataset sources from a mirror folder.
ifneq ($(wildcard ../shared/datasets),)
export SQUAD_DATA_MIRROR ?= $(abspath ../shared/datasets)
endif
export MPLBACKEND ?= Agg

.PHONY: install run test lint bench course lab system-deps clean hub hub-proxy

# Reinstall only when the package metadata changed: a second `make` installs nothing.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# The kit's main job: the default grid of the coding experiment, then the leaderboard.
run: install
	$(BIN)/squad datasets list --cards
	@$(BIN)/squad run notebooks/coding.ipynb --out runs; status=$$?; \
	$(BIN)/squad leaderboard runs/coding --html runs/coding/leaderboard.html; \
	echo "Leaderboard page: $(abspath runs/coding/leaderboard.html)"; \
	$(BIN)/squad board build runs/coding --out runs/site; exit $$status

# Debian packages the tests need: bubblewrap isolates the kernels that run student code,
# PostgreSQL (15 on Debian 12) is the challenge server's shared database (its tests start a throwaway
# cluster), chromium is the browser the JupyterLab tests drive.
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

system-deps:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && $(APT_INSTALL) bubblewrap; \
	  else \
	    echo "bubblewrap is missing: run 'sudo apt-get install bubblewrap' (grading falls back to weaker isolation without it)"; \
	  fi; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && $(APT_INSTALL) postgresql; \
	  else \
	    echo "PostgreSQL is missing: run 'sudo apt-get install postgresql' (the challenge server's PostgreSQL tests are skipped without it)"; \
	  fi; \
	fi

browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && $(APT_INSTALL) chromium; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install chromium' (the browser tests need /usr/bin/chromium)"; \
	  fi; \
	fi

# Regenerate every release notebook of the course from exercises/source/.
course: install
	$(BIN)/squad course build

# JupyterLab with the nbgrader extensions and the course, configured inside the kit.
lab: install
	$(BIN)/squad lab

# JupyterHub's proxy from the npm registry, inside the kit (without make: the same
# npm command). `make hub` starts the course's hub as root: accounts, then the hub.
HUB_PROXY := .hub-node/node_modules/.bin/configurable-http-proxy
HUB_COURSE ?= exercises/hub.yml

$(HUB_PROXY):
	npm install --prefix .hub-node --no-audit --no-fund --loglevel=error configurable-http-proxy@5.3.0

hub-proxy: $(HUB_PROXY)

hub: install hub-proxy
	chmod -R o-rwx $(dir $(HUB_COURSE))source
	$(BIN)/squad hub accounts $(HUB_COURSE)
	$(BIN)/squad hub start $(HUB_COURSE)

lint: install
	$(BIN)/ruff check squad tests bench notebooks conftest.py
	$(BIN)/ruff format --check squad tests bench notebooks conftest.py
	$(BIN)/lint-imports
	$(BIN)/python tools/check_private_imports.py squad
	$(BIN)/codespell squad tests datasets notebooks docs exercises/README.md exercises/notes README.md

test: install system-deps browser-deps hub-proxy lint
	$(BIN)/python -m pytest --durations=15

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts .hub-node
