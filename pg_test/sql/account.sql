-- Anonymous to permanent: update_user, email and phone change (secure and single),
-- linking and unlinking identities, merging an anonymous user into an account.
\set SHOW_CONTEXT never
-- Account changes must be the client's own statements (not inside error_of's EXECUTE):
-- psql prints their errors, and the transaction goes on past them.
\set ON_ERROR_ROLLBACK on
begin;
set local auth_ext.anonymous_sign_ins = on;

create table public.carts (
    user_id uuid not null references auth.users (id) on delete cascade,
    item text not null,
    qty int not null,
    primary key (user_id, item)
);
create table public.orders (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id) on delete restrict,
    total numeric not null
);
-- A column that holds a user id with no foreign key.
create table public.page_views (viewer uuid, path text);
-- Merges move rows as auth_ext_app, only where the application grants it.
grant select, update, delete on public.carts, public.orders, public.page_views to auth_ext_app;

-- The link (token_hash) of the newest message of a kind to an address.
create function pg_temp.link(address text, kind text) returns text language sql as
  $$ select payload->>'token_hash' from auth.outbox where recipient = address and outbox.kind = link.kind order by id desc limit 1 $$;

-- An anonymous visitor fills a cart and places an order.
select auth.sign_in_anonymously('{"theme": "dark"}') as anon \gset
select auth.set_session(:'anon'::jsonb->>'access_token') is not null as verified;
insert into public.carts values (auth.uid(), 'tea', 1), (auth.uid(), 'cups', 2);
insert into public.orders (user_id, total) values (auth.uid(), 12.50);

-- update_user: metadata merges one level deep and null deletes a key.
select auth.update_user('{"data": {"theme": null, "lang": "de", "prefs": {"a": 1}}}')->'user_metadata' as merged;
-- Unknown attributes, a password before any address is verified: refused, nothing changes.
-- unknown_attribute:
select auth.update_user('{"emial": "x@example.com"}');
-- password_first:
select auth.update_user('{"password": "a fine long passphrase"}');
-- bad_email:
select auth.update_user('{"email": "not an email"}');

-- An email already used by someone else: email_exists, and nothing changes.
select auth.admin_create_user('{"email": "taken@example.com", "password": "correct horse battery", "email_confirm": true}') is not null as other_user;
-- taken:
select auth.update_user('{"email": "TAKEN@example.com", "data": {"lang": "fr"}}');
select raw_user_meta_data->>'lang' as lang_unchanged, email_change from auth.users where id = auth.uid();

-- Adding an email: a code/link goes to the new address only; the user stays anonymous until it is confirmed.
select auth.update_user('{"email": "Anna@Example.com"}') as pending \gset
select :'pending'::jsonb->>'new_email' as new_email, :'pending'::jsonb->'is_anonymous' as still_anonymous;
select kind, recipient from auth.outbox where user_id = auth.uid() order by id;
select auth.verify_otp(token_hash => pg_temp.link('anna@example.com', 'email_change_new'), type => 'email_change') as converted \gset
-- Same id, email confirmed, email identity created, no longer anonymous; the cart is still theirs.
select u.id = (:'anon'::jsonb->'user'->>'id')::uuid as same_id, u.email, u.email_confirmed_at is not null as confirmed,
       u.is_anonymous, u.raw_app_meta_data->'providers' as providers,
       (select jsonb_agg(provider) from auth.user_identities where user_id = u.id) as identities,
       (select count(*) from public.carts where user_id = u.id) as cart_rows
from auth.users u where u.id = (:'anon'::jsonb->'user'->>'id')::uuid;
-- The conversion re-issued the caller's own session: same session, new refresh token, is_anonymous false.
select regress.jwt_part(:'converted'::jsonb->>'access_token', 2)->>'session_id' = regress.jwt_part(:'anon'::jsonb->>'access_token', 2)->>'session_id' as same_session,
       :'converted'::jsonb->>'refresh_token' <> :'anon'::jsonb->>'refresh_token' as rotated,
       regress.jwt_part(:'converted'::jsonb->>'access_token', 2)->'is_anonymous' as claim;
-- The anonymous-era refresh token is the parent of the live one: accepted once more, as any parent.
select regress.error_of(format('select auth.refresh_session(%L)', :'anon'::jsonb->>'refresh_token')) as old_token_as_parent;
select regress.jwt_part(auth.refresh_session(:'converted'::jsonb->>'refresh_token')->>'access_token', 2)->'is_anonymous' as after_refresh;

-- Now a password can be set.
select auth.set_session(:'converted'::jsonb->>'access_token') is not null as verified;
select auth.update_user('{"password": "anna has a long passphrase"}') is not null as password_set;
select (auth.sign_in_with_password('anna@example.com', 'anna has a long passphrase'))->>'token_type' as signs_in;

-- Secure email change (the default, for a confirmed email): both addresses confirm, in either order.
select auth.set_session(:'converted'::jsonb->>'access_token') is not null as verified;
select auth.update_user('{"email": "anna@new.example.com"}')->>'new_email' as new_email;
select kind, recipient from auth.outbox where kind like 'email_change%' and recipient like 'anna@%' order by id desc limit 2;
select auth.verify_otp(token_hash => pg_temp.link('anna@example.com', 'email_change_current'), type => 'email_change') as first_step;
select email, email_change, email_change_confirm_status from auth.users where id = auth.uid();
select (auth.verify_otp(token_hash => pg_temp.link('anna@new.example.com', 'email_change_new'), type => 'email_change'))->'user'->>'email' as moved;
select email, email_change, email_change_confirm_status,
       (select provider_id from auth.user_identities where user_id = u.id and provider = 'email') as identity
from auth.users u where id = auth.uid();
-- A reauthentication code is no way to sign in.
select regress.error_of($$select auth.verify_otp(token_hash => 'x', type => 'reauthentication')$$) as reauthentication_is_no_sign_in;
-- The other order: new address first, each link verified with the type it carries.
select auth.update_user('{"email": "anna@third.example.com"}') is not null as requested;
select auth.verify_otp(token_hash => pg_temp.link('anna@third.example.com', 'email_change_new'), type => 'email_change_new')->>'email_change_confirm_status' as first_step;
select email from auth.users where id = auth.uid();
select (auth.verify_otp(token_hash => pg_temp.link('anna@new.example.com', 'email_change_current'), type => 'email_change_current'))->'user'->>'email' as moved;
-- Single mode: only the new address confirms.
set local auth_ext.secure_email_change = off;
select auth.update_user('{"email": "anna@fourth.example.com"}') is not null as requested;
select count(*) as current_address_tokens from auth.one_time_tokens
where user_id = auth.uid() and token_type = 'email_change_current' and consumed_at is null;
select (auth.verify_otp(token_hash => pg_temp.link('anna@fourth.example.com', 'email_change_new'), type => 'email_change'))->'user'->>'email' as moved;
reset auth_ext.secure_email_change;
-- Autoconfirm does not make a secure change single.
set local auth_ext.mailer_autoconfirm = on;
select auth.update_user('{"email": "anna@fifth.example.com"}') is not null as requested;
select email, email_change from auth.users where id = auth.uid();
select count(*) as both_tokens from auth.one_time_tokens
where user_id = auth.uid() and token_type like 'email_change%' and consumed_at is null;
reset auth_ext.mailer_autoconfirm;

-- Changing the password ends the user's other sessions, unless asked to keep them.
select auth.admin_create_session(auth.uid()) as other \gset
select count(*) as sessions_before from auth.sessions where user_id = auth.uid();
select auth.update_user('{"password": "another long passphrase", "keep_sessions": true}') is not null as kept;
select count(*) as sessions_kept from auth.sessions where user_id = auth.uid();
select auth.update_user('{"password": "yet another long passphrase"}') is not null as changed;
select count(*) as sessions_after from auth.sessions where user_id = auth.uid();
select regress.error_of(format('select auth.refresh_session(%L)', :'other'::jsonb->>'refresh_token')) as other_session;
select action from auth.audit_log_entries where actor_id = auth.uid() and action in ('user_updated_password', 'user_modified') order by id;

-- A phone for an anonymous user: the code goes to the phone as a text message (its
-- verification is in otp_codes.sql, which works on committed tokens).
select auth.sign_in_anonymously() as phoner \gset
select auth.set_session(:'phoner'::jsonb->>'access_token') is not null as verified;
select auth.update_user('{"phone": "+49 30 1234567"}')->>'new_phone' as new_phone;
select kind, recipient, payload->>'channel' as channel, payload->>'otp' ~ '^[0-9]{6}$' as code,
       payload ? 'token_hash' as has_link
from auth.outbox where kind = 'phone_change' order by id desc limit 1;

-- Linking an identity (by the application's server) makes an anonymous user permanent.
select auth.sign_in_anonymously() as linker \gset
set local role service_role;
select (auth.link_identity('wechat', 'o_link_1', '{"nickname": "小明"}', (:'linker'::jsonb->'user'->>'id')::uuid))->'is_anonymous' as is_anonymous;
-- An identity that belongs to someone else is never moved.
-- taken_identity:
select auth.link_identity('wechat', 'o_link_1', '{}', (:'anon'::jsonb->'user'->>'id')::uuid);
reset role;
select count(*) as o_link_1_owners from auth.user_identities where provider = 'wechat' and provider_id = 'o_link_1';
-- Users cannot link identities themselves: only a server that verified them with the provider.
set local role authenticated;
-- authenticated_links:
select auth.link_identity('wechat', 'o_mine');
reset role;

-- Unlinking: never the last way to sign in.
select auth.set_session(:'linker'::jsonb->>'access_token') is not null as verified;
-- Off by default, as Supabase Auth's manual linking (the suite's database turns it on):
set local auth_ext.manual_linking_enabled = off;
-- manual_linking_disabled:
select auth.unlink_identity((select id from auth.user_identities where provider_id = 'o_link_1'));
reset auth_ext.manual_linking_enabled;
-- last_identity:
select auth.unlink_identity((select id from auth.user_identities where provider_id = 'o_link_1'));
set local role service_role;
select auth.link_identity('feishu', 'ou_link_2', '{}', (:'linker'::jsonb->'user'->>'id')::uuid) is not null as second_identity;
reset role;
select jsonb_array_length(auth.unlink_identity((select id from auth.user_identities where provider_id = 'o_link_1'))->'identities') as identities_left;
-- not_mine:
select auth.unlink_identity('00000000-0000-0000-0000-000000000000');

-- Merging: Bea (permanent) signs in; an anonymous session with a cart is merged into her account.
select auth.admin_create_user('{"email": "bea@example.com", "password": "correct horse battery", "email_confirm": true}') as bea \gset
insert into public.carts values ((:'bea'::jsonb->>'id')::uuid, 'tea', 3);
select auth.sign_in_anonymously() as shopper \gset
select auth.set_session(:'shopper'::jsonb->>'access_token') is not null as verified;
insert into public.carts values (auth.uid(), 'tea', 1), (auth.uid(), 'milk', 2);
insert into public.orders (user_id, total) values (auth.uid(), 7);
insert into public.page_views values (auth.uid(), '/tea');
-- A table created after the extension, with no registration, is found from the catalog;
-- the column without a foreign key is registered.
select auth.register_merge_column('public.page_views', 'viewer');
select auth.sign_in_with_password('bea@example.com', 'correct horse battery') as bea_session \gset
select auth.set_session(:'bea_session'::jsonb->>'access_token') is not null as verified;
-- 'merge' with no handler: the clash (tea) fails, naming the table; nothing moves.
savepoint m;
select auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token');
rollback to m;
-- A handler sums the quantities of clashing items, then the rest moves.
create function public.merge_carts(anonymous_user uuid, target_user uuid) returns void language sql as $$
    update public.carts t set qty = t.qty + s.qty from public.carts s
    where s.user_id = anonymous_user and t.user_id = target_user and t.item = s.item;
    delete from public.carts s where s.user_id = anonymous_user
      and exists (select from public.carts t where t.user_id = target_user and t.item = s.item);
$$;
select auth.register_merge_handler('public.carts', 'public.merge_carts(uuid, uuid)');
savepoint m;
select jsonb_pretty(auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token')->'moved') as moved;
select item, qty from public.carts where user_id = (:'bea'::jsonb->>'id')::uuid order by item;
select count(*) as bea_orders from public.orders where user_id = (:'bea'::jsonb->>'id')::uuid;
select count(*) as bea_views from public.page_views where viewer = (:'bea'::jsonb->>'id')::uuid;
select count(*) as anonymous_left, (select count(*) from auth.sessions where user_id = (:'shopper'::jsonb->'user'->>'id')::uuid) as sessions_left
from auth.users where id = (:'shopper'::jsonb->'user'->>'id')::uuid;
rollback to m;
-- keep_target drops the anonymous side's clashing rows; keep_anonymous replaces the target's.
savepoint m;
select (auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token', 'keep_target')->'moved'->0) - 'table' - 'column' as carts;
select item, qty from public.carts where user_id = (:'bea'::jsonb->>'id')::uuid order by item;
rollback to m;
savepoint m;
select (auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token', 'keep_anonymous')->'moved'->0) - 'table' - 'column' as carts;
select item, qty from public.carts where user_id = (:'bea'::jsonb->>'id')::uuid order by item;
rollback to m;
-- Refusals: a token that is not anonymous, the same user, an invalid token, a bad strategy.
-- not anonymous, invalid token, bad strategy:
select auth.merge_anonymous_user(:'converted'::jsonb->>'access_token');
select auth.merge_anonymous_user('not.a.token');
select auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token', 'keep_both');
select auth.set_session(:'shopper'::jsonb->>'access_token') is not null as verified_as_shopper;
-- same_user:
select auth.merge_anonymous_user(:'shopper'::jsonb->>'access_token');
select regress.error_of($$select auth.register_merge_handler('public.carts', 'pg_catalog.lower(text)')$$) as bad_handler;
select regress.error_of($$select auth.register_merge_column('public.carts', 'qty')$$) as bad_column;

-- Privileges.
select r.rolname, string_agg(p.proname, ' ' order by p.proname) as may_execute
from pg_proc p cross join (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
where p.pronamespace = 'auth'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute')
  and p.proname in ('update_user', 'reauthenticate', 'link_identity', 'unlink_identity', 'merge_anonymous_user',
                    'register_merge_handler', 'register_merge_column', 'merge_column', 'user_id_columns')
group by r.rolname order by 1;

rollback;
