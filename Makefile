# spoofguard: `make run` starts the milter with the default config, `make test` runs every
# test. Both install what is missing first (Debian packages with apt-get, then a venv).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/spoofguard.toml
DEBIAN_PACKAGES := libmilter-dev postfix swaks redis-server systemd
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-unit test-integration eval bench inflections deps system-deps sendmail lint clean

run: deps
	$(BIN)/spoofguard serve --config $(CONFIG)

test: deps sendmail
	$(BIN)/python -m pytest -q

test-unit: deps
	$(BIN)/python -m pytest -q tests --ignore=tests/integration

test-integration: deps sendmail
	$(BIN)/python -m pytest -q tests/integration

# Sendmail for the end-to-end tests, beside Postfix: Debian's sendmail-bin conflicts with
# postfix, so its packages are unpacked into .cache/sendmail, never installed. m4 builds
# the test instance's .cf; libwrap0 is the one library sendmail needs that Postfix does not.
SENDMAIL_PACKAGES := m4 libwrap0 util-linux
SENDMAIL_DIR := .cache/sendmail
sendmail: $(SENDMAIL_DIR)/root/usr/libexec/sendmail/sendmail
$(SENDMAIL_DIR)/root/usr/libexec/sendmail/sendmail:
	$(call apt_install,$(SENDMAIL_PACKAGES))
	rm -rf $(SENDMAIL_DIR) && mkdir -p $(SENDMAIL_DIR)/debs
	cd $(SENDMAIL_DIR)/debs && { apt-get download sendmail-bin sendmail-base sendmail-cf 2>/dev/null || \
	    { $(SUDO) apt-get update -qq && apt-get download sendmail-bin sendmail-base sendmail-cf; }; }
	for deb in $(SENDMAIL_DIR)/debs/*.deb; do dpkg-deb -x $$deb $(SENDMAIL_DIR)/root; done
	test -x $@

# Detector figures on the labelled corpus (skipped with a message when it is absent).
CORPUS ?= ../shared/corpus/dev
eval: deps
	$(BIN)/python bench/eval.py --corpus $(CORPUS)

# Throughput against a no-op milter and rspamd (bench/results/latest.md, ~10 minutes).
# rspamd runs from a private config under a temp dir; the system service is left alone.
BENCH_PACKAGES := rspamd util-linux
bench: deps
	$(call apt_install,$(BENCH_PACKAGES))
	$(BIN)/python bench/run_bench.py

# config/rules/inflections.toml: every form of the verbs in words.toml, from simplemma's
# dictionaries (a tool of this target only; the milter never loads them).
inflections: deps
	$(BIN)/pip install -q simplemma
	$(BIN)/python tools/inflections.py

deps: system-deps $(STAMP)

# $(call apt_install,PACKAGES): installs only the Debian packages that are missing;
# apt-get update only when something is.
define apt_install
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(DEBIAN_PACKAGES))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

lint: deps
	$(BIN)/pip install -q ruff mypy
	$(BIN)/ruff check milter tests
	$(BIN)/mypy milter/spoofguard

clean:
	rm -rf $(VENV) build *.egg-info milter/*.egg-info .pytest_cache .cache
