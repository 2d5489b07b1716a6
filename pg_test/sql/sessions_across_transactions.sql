-- What must hold across transaction boundaries, so this test commits (and cleans up):
-- set_session lasts one transaction, and a replayed refresh token revokes its session
-- even though the refresh call itself fails and rolls back.
\set SHOW_CONTEXT never
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000c7', 'cleo@example.com');
select auth.admin_create_session('00000000-0000-0000-0000-0000000000c7') as s \gset

-- Verified for one transaction only: a pooled connection never carries it into the next.
begin;
select auth.set_session(:'s'::jsonb->>'access_token')->>'email' as verified_email;
select auth.uid() as inside_transaction;
commit;
select auth.uid() as next_transaction;
-- Outside any explicit transaction it lasts for its own statement only.
select auth.set_session(:'s'::jsonb->>'access_token') is not null as verified;
select auth.uid() as next_statement;

-- The claim functions follow every change of the verified claims, whatever makes it:
-- another set_session, a savepoint rolled back, a superuser's SET, RESET ALL.
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000c8', 'dora@example.com');
select auth.admin_create_session('00000000-0000-0000-0000-0000000000c8') as d \gset
begin;
select auth.set_session(:'s'::jsonb->>'access_token') is not null as cleo;
select auth.uid() as cleo_uid;
savepoint before_dora;
select auth.set_session(:'d'::jsonb->>'access_token') is not null as dora;
select auth.uid() as dora_uid;
rollback to savepoint before_dora;
select auth.uid() as cleo_again, auth.email() as cleo_email;
set local auth_ext.verified_claims = '{"sub": "00000000-0000-0000-0000-0000000000c8", "role": "authenticated"}';
select auth.uid() as set_by_a_superuser;
reset all;
select auth.uid() as after_reset_all;
commit;
delete from auth.users where id = '00000000-0000-0000-0000-0000000000c8';

-- Theft: with no reuse interval, a token two generations old is replayed.
set auth_ext.refresh_token_reuse_interval = 0;
select auth.refresh_session(:'s'::jsonb->>'refresh_token') as s1 \gset
select auth.refresh_session(:'s1'::jsonb->>'refresh_token') as s2 \gset
select auth.refresh_session(:'s'::jsonb->>'refresh_token');
reset auth_ext.refresh_token_reuse_interval;
-- The revocation was committed, by a worker of its own, before the call failed.
select r.reason from auth.sessions s join auth.session_revocations r on r.session_id = s.id
where s.user_id = '00000000-0000-0000-0000-0000000000c7';
-- Every token of the family is dead now, including the thief's or victim's newest one.
select auth.refresh_session(:'s2'::jsonb->>'refresh_token');
\set VERBOSITY terse
select auth.set_session(:'s2'::jsonb->>'access_token');
\set VERBOSITY default
select action, payload->>'reason' as reason from auth.audit_log_entries
where actor_id = '00000000-0000-0000-0000-0000000000c7' order by id;

delete from auth.audit_log_entries where actor_id = '00000000-0000-0000-0000-0000000000c7';
delete from auth.users where id = '00000000-0000-0000-0000-0000000000c7';
