-- The admin API: create, update, delete and list users.
\set SHOW_CONTEXT never
begin;
set local role service_role;

select auth.admin_create_user('{"phone": "442079460000"}') is not null as phone_user;
select auth.admin_create_user('{"email": "Vera@Example.com", "password": "correct horse battery", "email_confirm": true,
    "user_metadata": {"name": "Vera", "lang": "fr"}, "app_metadata": {"plan": "free"}}') as vera \gset
select :'vera'::jsonb->>'email' as email, :'vera'::jsonb->'user_metadata' as user_metadata,
       :'vera'::jsonb->'app_metadata' as app_metadata, :'vera'::jsonb->>'email_confirmed_at' is not null as confirmed;
select case_name, regress.error_of(statement) as result from (values
    ('taken email', $$select auth.admin_create_user('{"email": "vera@example.com"}')$$),
    ('taken phone', $$select auth.admin_create_user('{"email": "x@example.com", "phone": "+44 20 7946 0000"}')$$),
    ('unknown attribute', $$select auth.admin_create_user('{"emial": "x@example.com"}')$$),
    ('overlong password', $$select auth.admin_create_user(('{"email": "w@example.com", "password": "' || repeat('x', 73) || '"}')::jsonb)$$),
    ('metadata not an object', $$select auth.admin_create_user('{"email": "w@example.com", "user_metadata": [1]}')$$),
    ('ban at creation', $$select auth.admin_create_user('{"email": "w@example.com", "ban_duration": "1h"}')$$),
    ('bad role', $$select auth.admin_create_user('{"email": "w@example.com", "role": "x; drop"}')$$),
    ('not json object', $$select auth.admin_create_user('"vera"')$$)
) t(case_name, statement);

-- Updates apply at once: metadata merges one level (null deletes), email moves with its identity.
select auth.admin_update_user_by_id((:'vera'::jsonb->>'id')::uuid,
    '{"user_metadata": {"lang": null, "city": "Lyon"}, "app_metadata": {"plan": "pro"}, "email": "vera@new.example.com", "email_confirm": true}') as v2 \gset
select :'v2'::jsonb->'user_metadata' as user_metadata, :'v2'::jsonb->'app_metadata'->>'plan' as plan,
       :'v2'::jsonb->>'email' as email, :'v2'::jsonb->>'email_confirmed_at' is not null as confirmed,
       (select jsonb_agg(i->>'id') from jsonb_array_elements(:'v2'::jsonb->'identities') i where i->>'provider' = 'email') as email_identity;
select (auth.sign_in_with_password('vera@new.example.com', 'correct horse battery'))->>'token_type' as new_email_signs_in;
-- Password change takes effect at once.
select auth.admin_update_user_by_id((:'vera'::jsonb->>'id')::uuid, '{"password": "a brand new passphrase"}') is not null as changed;
select regress.error_of($$select auth.sign_in_with_password('vera@new.example.com', 'correct horse battery')$$) as old_password;
select (auth.sign_in_with_password('vera@new.example.com', 'a brand new passphrase'))->>'token_type' as new_password;
-- A ban, then lifting it.
select (auth.admin_update_user_by_id((:'vera'::jsonb->>'id')::uuid, '{"ban_duration": "1h30m"}')->>'banned_until')::timestamptz - now() as banned_for;
select regress.error_of($$select auth.sign_in_with_password('vera@new.example.com', 'a brand new passphrase')$$) as while_banned;
select auth.admin_update_user_by_id((:'vera'::jsonb->>'id')::uuid, '{"ban_duration": "none"}')->>'banned_until' is null as unbanned;
-- A phone added later gets its identity.
select jsonb_agg(i->>'provider' order by i->>'provider') as providers
from jsonb_array_elements(auth.admin_update_user_by_id((:'vera'::jsonb->>'id')::uuid, '{"phone": "+33 6 12 34 56 78", "phone_confirm": true}')->'identities') i;
select case_name, regress.error_of(statement) as result from (values
    ('unknown user', $$select auth.admin_update_user_by_id('00000000-0000-0000-0000-00000000dead', '{}')$$),
    ('bad ban', $$select auth.admin_update_user_by_id('00000000-0000-0000-0000-00000000dead', '{"ban_duration": "soon"}')$$),
    ('negative ban', $$select auth.admin_update_user_by_id('00000000-0000-0000-0000-00000000dead', '{"ban_duration": "-1h"}')$$)
) t(case_name, statement);
reset role;
select action, payload->'attributes'->'password_changed' as password_changed,
       payload->'attributes'->>'ban_duration' as ban_duration
from auth.audit_log_entries where action = 'user_modified' order by id;
set local role service_role;

-- Listing pages through users, oldest first.
select auth.admin_create_user(jsonb_build_object('email', 'list' || n || '@example.com')) is not null as created
from generate_series(1, 4) n;
select (l->>'total')::int as total, jsonb_array_length(l->'users') as on_page, l->>'page' as page
from (select auth.admin_list_users(2, 2) as l) x;
select regress.error_of($$select auth.admin_list_users(0, 10)$$) as bad_page;

-- Deleting: hard removes everything; soft keeps the row but frees the address and ends sign-in.
select auth.admin_create_session((:'vera'::jsonb->>'id')::uuid) is not null as has_session;
select auth.admin_delete_user((:'vera'::jsonb->>'id')::uuid, true);
reset role;
select deleted_at is not null as deleted, email, phone, encrypted_password,
       (select count(*) from auth.user_identities where user_id = u.id) as identities,
       (select count(*) from auth.sessions where user_id = u.id) as sessions
from auth.users u where id = (:'vera'::jsonb->>'id')::uuid;
set local role service_role;
select regress.error_of($$select auth.sign_in_with_password('vera@new.example.com', 'a brand new passphrase')$$) as after_soft_delete;
select (auth.admin_create_user('{"email": "vera@new.example.com"}'))->>'email' as address_reusable;
select regress.error_of(format('select auth.admin_delete_user(%L)', :'vera'::jsonb->>'id')) as already_deleted;
select auth.admin_delete_user((select id from auth.users where email = 'list1@example.com'));
select count(*) as list1_rows from auth.users where email = 'list1@example.com';
reset role;
select action, payload->'soft' as soft from auth.audit_log_entries where action = 'user_deleted' order by id;

-- A signup link with the password the operator set keeps that password when followed.
set local role service_role;
select auth.admin_generate_link('signup', 'lina@example.com', '{"password": "linas own passphrase"}')->>'hashed_token' as lina_link \gset
reset role;
select (auth.verify_otp(token_hash => :'lina_link', type => 'signup'))->'user'->>'email' as lina_confirmed;
select (auth.sign_in_with_password('lina@example.com', 'linas own passphrase'))->>'token_type' as operators_password_kept;

-- Missing arguments are coded errors, never pgrx's "argument must not be null".
set local role service_role;
select regress.error_of($$select auth.admin_generate_link(null, 'x@example.com')$$) as link_without_type,
       regress.error_of($$select auth.admin_generate_link('magiclink', null)$$) as link_without_email,
       regress.error_of($$select auth.invite_user_by_email(null)$$) as invite_without_email;
reset role;

rollback;
