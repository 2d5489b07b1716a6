#!/usr/bin/env bash
# Benchmarks (not part of `make test`): the per-row cost of the claim functions in a
# policy, against a literal, on a release build in a throwaway cluster.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
scripts/install.sh --release
cluster_start bench
trap cluster_stop EXIT
"$(pg_bindir)/createdb" auth_bench
psql -X -v ON_ERROR_STOP=1 -d auth_bench -q -c 'create extension auth_ext'
psql -X -v ON_ERROR_STOP=1 -d auth_bench -f bench/claims.sql
