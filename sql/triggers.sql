-- Every trigger of the extension, once the functions they run exist.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

create or replace trigger users_normalize
    before insert or update on auth.users
    for each row execute function auth.users_normalize();

-- An anonymous user has no identity to make: not even the call is paid for.
create or replace trigger auth_ext_handle_new_user
    after insert on auth.users
    for each row when (not new.is_anonymous) execute function auth.handle_new_user();

create or replace trigger user_identities_touch
    before update on auth.user_identities
    for each row execute function auth.user_identities_touch();

create or replace trigger signing_keys_restored
    after insert on auth.signing_keys
    referencing new table as restored
    for each statement execute function auth.signing_keys_restored();

create or replace trigger signing_keys_immutable
    before update on auth.signing_keys
    for each row execute function auth.signing_keys_immutable();

create or replace trigger signing_keys_notify_postgrest
    after insert or update or delete or truncate on auth.signing_keys
    for each statement execute function auth.signing_keys_changed();

create or replace trigger outbox_notify
    after insert on auth.outbox
    for each statement execute function auth.outbox_notify();
