# The two commands the README starts with, and their parts.
#   make demo   build, install, and play the walkthrough in a throwaway cluster
#   make test   everything CI runs: the #[pg_test]s, pg_regress, isolation, upgrade and integration
#               on PostgreSQL 15 and 17, the PostgREST and gateway tiers, the packaged build
#               on a bare PostgreSQL 17, and a seconds-long smoke of make bench
# Each installs what it needs that is missing (scripts/deps.sh).

SHELL := /bin/bash
# PG_MAJOR=17 builds, installs and tests against PostgreSQL 17 (scripts/common.sh).
export PG_MAJOR ?= 15

.PHONY: deps install demo demo-shell test test-survivor-start test-survivor-check test-demo test-unit test-regress test-isolation test-upgrade test-integration test-postgrest test-gateway test-bench-smoke test-pg17 test-package package regress-accept isolation-accept bench

deps:
	@scripts/deps.sh

install: deps
	@scripts/install.sh

demo: install
	@scripts/demo.sh

demo-shell: install
	@scripts/demo.sh --shell

# A cluster with the extension preloaded runs throughout, and must outlive the tiers.
test: test-survivor-start test-unit test-regress test-isolation test-upgrade test-integration test-pg17 test-postgrest test-gateway test-demo test-package test-bench-smoke test-survivor-check

test-survivor-start: install
	@scripts/survivor.sh start

test-survivor-check:
	@scripts/survivor.sh check

test-unit: deps
	@scripts/unit-test.sh

test-regress: install
	@scripts/regress.sh $(TESTS)

# Races between sessions, step by step (pg_isolation_regress).
test-isolation: install
	@scripts/isolation.sh $(SPECS)

# The previous release, upgraded with its hand-written script, equals a fresh install.
test-upgrade: install
	@scripts/upgrade-check.sh

# Several real connections at once, and tokens checked by another implementation.
test-integration: install
	@scripts/integration.sh

# A real PostgREST 12 with the shipped examples/postgrest/ config, driven over HTTP.
test-postgrest: install
	@scripts/postgrest.sh

# The HTTP gateway with the real supabase-js, and the example web app in headless Chromium.
test-gateway: install
	@scripts/gateway.sh

# make demo as a newcomer runs it, then Ctrl-C: everything it started stops.
test-demo: install
	@scripts/demo-check.sh

# The SQL tiers again on PostgreSQL 17 (Debian 13's packages, scripts/postgresql-debian13.sh).
test-pg17:
	@$(MAKE) --no-print-directory PG_MAJOR=17 test-unit test-regress test-isolation test-upgrade test-integration

# Per major, a tarball laid out like the install (lib/, share/extension/, the gateway,
# install.sh) and a .deb, in target/dist/.
package: deps
	@scripts/package.sh

# A bare PostgreSQL 17 with only the packaged build installed plays the walkthrough.
test-package: deps
	@scripts/package-check.sh

# Every hot path next to its floor and its peers (pgjwt, Supabase's auth.uid(), Better
# Auth), on a release build: the README's performance table. Not part of test.
bench: deps
	@scripts/bench.sh

# The same script for a few seconds on the debug build, so that it keeps working.
test-bench-smoke: install
	@BENCH_SMOKE=1 scripts/bench.sh

# After reviewing target/regress/regression.diffs: take the new output as expected.
regress-accept:
	@for f in target/regress/results/*.out; do cp "$$f" pg_test/expected/; done

isolation-accept:
	@for f in target/isolation/results/*.out; do cp "$$f" pg_test/isolation/expected/; done
