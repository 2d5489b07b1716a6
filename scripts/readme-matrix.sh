#!/usr/bin/env bash
# Rewrites the README's privilege matrix from the accepted output of the privileges
# regression test (pg_test/expected/privileges.out). The integration tier checks it.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
python3 - <<'PY'
import re
readme = open('README.md').read()
rows = [l for l in open('pg_test/expected/privileges.out').read().splitlines() if l.startswith(('| `auth.', '| `auth_api.'))]
start, end = '<!-- privilege-matrix:start -->', '<!-- privilege-matrix:end -->'
head, rest = readme.split(start)
_, tail = rest.split(end)
table = '\n'.join(['| object | PUBLIC | anon | authenticated | service_role | auth_ext_admin | auth_ext_app |',
                   '| --- | --- | --- | --- | --- | --- | --- |'] + rows)
open('README.md', 'w').write(head + start + '\n' + table + '\n' + end + tail)
PY
