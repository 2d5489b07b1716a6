#!/usr/bin/env python3
"""Builds the upgrade scripts, so that no function is ever written twice.

usage: build-sql.py INSTALL_SCRIPT OUT_DIR

INSTALL_SCRIPT is the auth_ext--VERSION.sql that `cargo pgrx package` generated. For
each sql/upgrades/FROM--VERSION.sql this writes OUT_DIR/auth_ext--FROM--VERSION.sql:
  0. sql/schema/roles.sql, which creates the roles that are missing (it may run again);
  1. that file: the hand-written changes to tables and data, and the drops of
     functions whose signature changed or that are gone (CREATE OR REPLACE cannot
     change a result type, rename an argument or remove a default); a line
     `-- include sql/schema/NAME.sql` stands for a schema file the version adds whole;
  2. every function written in Rust, from INSTALL_SCRIPT, as CREATE OR REPLACE;
  3. the SQL files that src/lib.rs installs after the tables, in its order:
     sql/functions/ (CREATE OR REPLACE only), sql/triggers.sql (CREATE OR REPLACE
     TRIGGER) and sql/access.sql (which may run again).
scripts/upgrade-check.sh checks that the result equals a fresh install.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def installed_after_tables():
    """The SQL files src/lib.rs installs, in its order, but for the tables (sql/schema/)."""
    with open(os.path.join(ROOT, "src", "lib.rs")) as f:
        lib = f.read()
    files = re.findall(r'extension_sql_file!\(\s*"\.\./(sql/[^"]+)"', lib)
    return [f for f in files if not f.startswith("sql/schema/")]


def rust_functions(install_script):
    """Every CREATE FUNCTION of a Rust function (LANGUAGE c) that pgrx generated."""
    # pgrx writes no semicolon inside one; some are declared by hand in Rust (auth.uid).
    pattern = re.compile(r"^CREATE\s+FUNCTION\s[^;]*\bLANGUAGE c\b[^;]*'MODULE_PATHNAME', '\w+';\n", re.M)
    found = [re.sub(r"^CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", s) for s in pattern.findall(install_script)]
    everything = len(re.findall(r"'MODULE_PATHNAME'", install_script))
    if not found or len(found) != everything:
        raise SystemExit(f"build-sql: found {len(found)} Rust functions of {everything} in the install script")
    if not found:
        raise SystemExit("build-sql: no Rust function found in the install script")
    return found


def included(changes):
    """The hand-written changes with each `-- include sql/schema/NAME.sql` line replaced by
    that file: a schema file the version adds whole is written once."""
    def file(match):
        with open(os.path.join(ROOT, match.group(1))) as f:
            return f"-- {match.group(1)}\n" + f.read()
    return re.sub(r"^-- include (sql/schema/[\w.-]+\.sql)$", file, changes, flags=re.M)


def main():
    install_path, out_dir = sys.argv[1], sys.argv[2]
    version = re.search(r"auth_ext--([^-]+)\.sql$", install_path).group(1)
    with open(install_path) as f:
        install_script = f.read()
    rust = "".join(rust_functions(install_script))
    after_tables = "".join(
        f"\n-- {path}\n" + open(os.path.join(ROOT, path)).read() for path in installed_after_tables()
    )
    with open(os.path.join(ROOT, "sql", "schema", "roles.sql")) as f:
        roles = f.read()
    upgrades = os.path.join(ROOT, "sql", "upgrades")
    for name in sorted(os.listdir(upgrades)):
        match = re.fullmatch(r"(.+)--(.+)\.sql", name)
        if not match or match.group(2) != version:
            continue
        with open(os.path.join(upgrades, name)) as f:
            changes = included(f.read())
        script = (
            f"-- auth_ext {match.group(1)} -> {version}, built by scripts/build-sql.py: do not edit.\n"
            f"\\echo Use \"ALTER EXTENSION auth_ext UPDATE TO '{version}'\" to load this file. \\quit\n\n"
            f"-- sql/schema/roles.sql\n{roles}\n-- sql/upgrades/{name}\n{changes}\n-- Every function written in Rust.\n{rust}{after_tables}"
        )
        with open(os.path.join(out_dir, f"auth_ext--{name}"), "w") as f:
            f.write(script)


if __name__ == "__main__":
    main()
