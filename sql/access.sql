-- Who may do what. Runs last, once every function exists.
-- Nothing in `auth` is usable by an application role unless granted here.

alter table auth.users enable row level security;
alter table auth.user_identities enable row level security;

-- A signed-in user reads their own rows and nothing else. `(select auth.uid())`
-- is planned once per query rather than called once per row.
create policy users_select_own on auth.users
    for select to authenticated
    using (id = (select auth.uid()));

create policy user_identities_select_own on auth.user_identities
    for select to authenticated
    using (user_id = (select auth.uid()));

-- No insert/update/delete policy or grant for application roles: a user who could
-- rewrite provider/provider_id could hijack someone else's future sign-in.
-- Changes go through the extension's functions.

grant usage on schema auth to anon, authenticated, service_role;

revoke all on all tables in schema auth from public;
revoke execute on all functions in schema auth from public;

-- Every column but the password hash.
grant select (id, aud, role, email, phone, email_confirmed_at, phone_confirmed_at, confirmed_at,
              last_sign_in_at, raw_app_meta_data, raw_user_meta_data, is_anonymous, banned_until,
              email_change, email_change_confirm_status, phone_change, created_at, updated_at, deleted_at)
    on auth.users to authenticated, service_role;
grant select on auth.user_identities to authenticated, service_role;

-- The claim functions only read the caller's own request settings, and any role that
-- queries a table with a policy calling them needs them: granted to everyone.
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email(),
    auth.is_anonymous(), auth.session_id() to public;

-- Raising one of our errors reveals nothing; SQL parts of the extension that run as
-- the caller (the users_normalize trigger) need it.
grant execute on function auth.raise_error(text, text, text, text) to public;
grant execute on function auth.error_codes() to public;
