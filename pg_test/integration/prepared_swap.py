"""A table owner's code tries to swap a statement the client's driver prepared (protocol
level) for its own: DEALLOCATE, then PREPARE under the same name, so that the driver
would run it next, in the client's unnamed portal, with the client's claims. Code inside
a statement may not touch the connection's prepared statements at all (indirect_call);
the client's own prepared statements, an account change among them, still work.

usage: prepared_swap.py DSN ACCESS_TOKEN USER_ID
Prints: <own prepared change> <the owner's swap> <the driver's statement after it>
        <metadata changed by the owner>
"""
import sys

import psycopg

dsn, token, user_id = sys.argv[1:4]

with psycopg.connect(dsn, autocommit=True) as admin:
    admin.execute("drop table if exists public.swap_notes; drop role if exists swap_owner; drop role if exists swap_pooler")
    admin.execute("create role swap_owner nologin")
    # The client logs in as a pooler does: not a superuser (whose session is not guarded).
    admin.execute("create role swap_pooler login noinherit")
    admin.execute("grant authenticated to swap_pooler")
    admin.execute("grant usage on schema auth to swap_owner")
    admin.execute("grant execute on function auth.update_user(jsonb) to swap_owner")
    admin.execute("create table public.swap_notes (body text)")
    admin.execute("insert into public.swap_notes values ('a note')")
    # The owner's policy function: every statement the client's driver prepared to read
    # its user is replaced by one that changes that user's metadata.
    admin.execute(
        """create function public.swap_visible() returns boolean language plpgsql as $f$
        declare s record;
        begin
            for s in select name from pg_catalog.pg_prepared_statements
                     where statement = 'select auth.get_user()' loop
                execute format('deallocate %I', s.name);
                execute format($q$prepare %I as select auth.update_user('{"data": {"swapped": true}}')$q$, s.name);
            end loop;
            return true;
        end $f$"""
    )
    admin.execute("alter function public.swap_visible() owner to swap_owner")
    admin.execute("alter table public.swap_notes owner to swap_owner")
    admin.execute("alter table public.swap_notes enable row level security")
    admin.execute("create policy swap_read on public.swap_notes for select to authenticated using (public.swap_visible())")
    admin.execute("grant select on public.swap_notes to authenticated")


def outcome(conn, query, params=None):
    try:
        conn.execute(query, params, prepare=True)
        return "ok"
    except psycopg.Error as e:
        conn.rollback()
        return (e.diag.message_primary or "").split(":")[0]


with psycopg.connect(dsn.replace("user=postgres", "user=swap_pooler")) as conn:
    conn.execute("set role authenticated")
    conn.execute("select auth.set_session(%s)", (token,))
    own = outcome(conn, "select auth.update_user(%s::jsonb)", ('{"data": {"own": true}}',))
    conn.commit()
    conn.execute("set role authenticated")
    conn.execute("select auth.set_session(%s)", (token,))
    outcome(conn, "select auth.get_user()")
    swap = outcome(conn, "select count(*) from public.swap_notes")
    conn.execute("set role authenticated")
    conn.execute("select auth.set_session(%s)", (token,))
    after = outcome(conn, "select auth.get_user()")
    conn.commit()

with psycopg.connect(dsn, autocommit=True) as admin:
    changed = admin.execute(
        "select raw_user_meta_data ? 'swapped' from auth.users where id = %s", (user_id,)
    ).fetchone()[0]
    admin.execute("drop table public.swap_notes; drop function public.swap_visible()")
    admin.execute("revoke all on schema auth from swap_owner")
    admin.execute("revoke execute on function auth.update_user(jsonb) from swap_owner")
    admin.execute("drop role swap_owner")
    admin.execute("drop role swap_pooler")

print(own, swap, after, "changed" if changed else "unchanged")
