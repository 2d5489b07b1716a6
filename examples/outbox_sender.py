#!/usr/bin/env python3
"""A small sender for auth_ext's outbox.

Postgres sends no mail: auth_ext queues confirmation, magic-link, recovery, invite and
email-change messages in auth.outbox and notifies channel `auth_outbox`. This process
LISTENs, claims messages with auth.claim_outbox() (each is handed to exactly one
sender, however many run) and delivers them. Here delivery prints one JSON line per
message; replace deliver() with your SMTP or email API call.

    DATABASE_URL=postgres://sender@localhost/app python3 examples/outbox_sender.py

The role it connects as needs service_role (grant service_role to sender), or pass
--role service_role to switch to it. --once exits after the first batch.
"""
import argparse
import json
import os
import sys

import psycopg
from psycopg import sql


def deliver(message: dict) -> None:
    print(json.dumps(message, ensure_ascii=False), flush=True)


def claim(conn) -> int:
    rows = conn.execute(
        "select id, kind, recipient, payload, created_at from auth.claim_outbox(100)"
    ).fetchall()
    for id_, kind, recipient, payload, created_at in rows:
        deliver({"id": id_, "kind": kind, "to": recipient, "created_at": created_at.isoformat(), **payload})
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--role", help="SET ROLE to this after connecting, e.g. service_role")
    parser.add_argument("--once", action="store_true", help="exit after delivering one batch")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many idle seconds")
    args = parser.parse_args()

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        if args.role:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(args.role)))
        conn.execute("listen auth_outbox")
        print("listening on auth_outbox", file=sys.stderr, flush=True)
        while True:
            # Claim first: messages queued before we listened are not lost.
            if claim(conn) and args.once:
                return 0
            woke = False
            for _ in conn.notifies(timeout=args.timeout, stop_after=1):
                woke = True
            if not woke and args.timeout is not None:
                print("no message arrived", file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main())
