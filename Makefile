# The two commands the README starts with, and their parts.
#   make demo   build, install, and play the walkthrough in a throwaway cluster
#   make test   everything CI runs: the #[pg_test]s, pg_regress, isolation, upgrade, integration, PostgREST tiers
# Each installs what it needs that is missing (scripts/deps.sh).

SHELL := /bin/bash
export PG_MAJOR ?= 15
export PG_CONFIG ?= /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config

.PHONY: deps install demo demo-shell test test-unit test-regress test-isolation test-upgrade test-integration test-postgrest test-gateway regress-accept isolation-accept bench

deps:
	@scripts/deps.sh

install: deps
	@scripts/install.sh

demo: install
	@scripts/demo.sh

demo-shell: install
	@scripts/demo.sh --shell

test: test-unit test-regress test-isolation test-upgrade test-integration test-postgrest test-gateway

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

# Not part of test: the claim functions' per-row cost in a policy, release build.
bench: deps
	@scripts/bench.sh

# After reviewing target/regress/regression.diffs: take the new output as expected.
regress-accept:
	@for f in target/regress/results/*.out; do cp "$$f" pg_test/expected/; done

isolation-accept:
	@for f in target/isolation/results/*.out; do cp "$$f" pg_test/isolation/expected/; done
