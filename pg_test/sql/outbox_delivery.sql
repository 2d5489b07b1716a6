-- Delivering messages at least once: senders lease due messages (SKIP LOCKED and a
-- lease), report them sent (their secrets then leave the table) or not (retried with
-- backoff, failed for good on a permanent error or after auth_ext.outbox_max_attempts),
-- and a sender that dies leaves its messages to the next once the lease runs out.
begin;
delete from auth.outbox;
select count(*) as queued from (select auth.sign_in_with_otp(format('deliver-%s@example.com', i)) from generate_series(1, 4) i) s;

set local role service_role;
-- Two senders: each message goes to one of them.
select count(*) as first_sender, min(attempts) as attempts, bool_and(payload ? 'email_otp') as with_codes
from auth.lease_outbox(2, 60);
select count(*) as second_sender from auth.lease_outbox(100, 60);
select count(*) as nothing_left from auth.lease_outbox(100, 60);
reset role;
select array_agg(id order by id) as ids from auth.outbox \gset
select (:'ids'::bigint[])[1] as m1, (:'ids'::bigint[])[2] as m2, (:'ids'::bigint[])[3] as m3, (:'ids'::bigint[])[4] as m4 \gset

-- Sent: the code and link leave the table.
set local role service_role;
select auth.outbox_sent(:m1) as sent, auth.outbox_sent(:m1) as sent_twice;
reset role;
select status, payload ? 'email_otp' as code_kept, payload ? 'action_link' as link_kept from auth.outbox where id = :m1;

-- A temporary error: pending again, after a backoff; a permanent one: failed, with its
-- reason, without its secrets.
set local role service_role;
select auth.outbox_retry(:m2, '451 4.7.1 try again later') as after_4xx;
reset role;
select status, next_attempt_at > now() + interval '25 seconds' as backed_off, last_error from auth.outbox where id = :m2;
set local role service_role;
select count(*) as not_due_yet from auth.lease_outbox(100, 60);
reset role;
update auth.outbox set next_attempt_at = now() where id = :m2;
set local role service_role;
select id = :m2 as leased_again, attempts from auth.lease_outbox(100, 60);
select auth.outbox_retry(:m2, '550 5.1.1 no such user', permanent => true) as after_5xx;
select auth.outbox_sent(:m2) as failed_is_not_sent;
reset role;
select status, attempts, last_error, payload ? 'email_otp' as code_kept from auth.outbox where id = :m2;

-- Too many temporary errors fail it too.
set local auth_ext.outbox_max_attempts = 2;
set local role service_role;
select auth.outbox_retry(:m3, 'connection refused') as first_try;
reset role;
update auth.outbox set next_attempt_at = now() where id = :m3;
set local role service_role;
select count(*) as leased from auth.lease_outbox(100, 60) where id = :m3;
select auth.outbox_retry(:m3, 'connection refused') as second_try;
reset role;

-- A sender that died holding a message: leased again once its lease ran out.
update auth.outbox set claimed_at = now() - interval '2 minutes' where id = :m4;
set local role service_role;
select id = :m4 as released, attempts from auth.lease_outbox(100, 60);
-- What became of each, without secrets.
select status, count(*) from auth.outbox_status group by status order by status;
reset role;

-- Where links lead: the auth API's /verify when its URL is known, or the application's
-- confirm route (@supabase/ssr) when auth_ext.mailer_links says confirm.
reset role;
set local auth_ext.site_url = 'https://app.example.test';
set local auth_ext.api_external_url = 'https://auth.example.test/auth/v1';
select split_part(auth.admin_generate_link('magiclink', 'deliver-1@example.com')->>'action_link', '?', 1) as verify_link;
set local auth_ext.mailer_links = 'confirm';
select split_part(auth.admin_generate_link('magiclink', 'deliver-1@example.com')->>'action_link', '?', 1) as confirm_link;
set local role service_role;

-- Nobody else leases, reports or reads.
set local role authenticated;
select regress.error_of('select * from auth.lease_outbox()') as lease_as_user,
       regress.error_of(format('select auth.outbox_sent(%s)', :m4)) as report_as_user,
       regress.error_of('select * from auth.outbox_status') as status_as_user;
reset role;
rollback;
