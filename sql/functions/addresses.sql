-- Confirming and taking an address, and the answer a sign-up for a taken one gets.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- What sign_up answers for an address that is registered already: a new, unconfirmed
-- user as auth.user_json would show it (a fresh id, the address's identity, the
-- caller's own metadata), so that the answer tells nothing and carries nothing of the
-- account that has the address.
create or replace function auth.sign_up_decoy(p_address text, p_kind text, p_user_meta jsonb, p_app_meta jsonb)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    u auth.users := jsonb_populate_record(null::auth.users, jsonb_build_object(
        'id', gen_random_uuid(), 'aud', 'authenticated', 'role', 'authenticated',
        p_kind, auth.normalize_address(p_address, p_kind), 'raw_user_meta_data', p_user_meta,
        'raw_app_meta_data', p_app_meta, 'is_anonymous', false, 'created_at', now(), 'updated_at', now(),
        -- A new user's confirmation has just gone out.
        'confirmation_sent_at', now()));
    i auth.user_identities := jsonb_populate_record(null::auth.user_identities, jsonb_build_object(
        'id', gen_random_uuid(), 'user_id', u.id, 'provider', p_kind,
        'provider_id', auth.normalize_address(p_address, p_kind),
        'identity_data', auth.address_identity_data(u.id, p_kind, auth.normalize_address(p_address, p_kind), false),
        'created_at', now(), 'updated_at', now()));
begin
    return auth.user_object(u, jsonb_build_array(auth.identity_object(i)));
end
$$;

-- An unconfirmed user's password: the one its latest sign-up set, else the one it was
-- made with. Reads only: never waits for a sign-up still in progress.
create or replace function auth.unconfirmed_password(p_user_id uuid)
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(
        (select p.password_hash from auth.sign_up_passwords p where p.user_id = p_user_id
         order by p.set_at desc, p.requested_from limit 1),
        (select u.encrypted_password from auth.users u where u.id = p_user_id))
$$;

-- Marks a user's email (or phone) confirmed, on the user and on its identity. Only a
-- sign-up's confirmation proves the password chosen at sign-up (p_proves_password), and
-- only when the person who set that password is the one confirming: the password is
-- still the latest sign-up's, the one the confirmation was issued for (p_password_digest,
-- auth.password_digest;
-- a confirmation issued for no password, an operator's link without one, proves none),
-- and nobody asked for
-- a sign-in code or link for this user (magic link, OTP, recovery, invite: tokens that
-- prove no password, still unused) while it was unconfirmed, since the sign-up may then
-- be a stranger's, whose mail the owner follows. Confirming through anything else proves
-- the address alone, so an unconfirmed user's password, which nobody proved, is
-- cleared. Whoever signed up someone else's address cannot keep a way in once its
-- owner arrives.
create or replace function auth.confirm_address(p_user_id uuid, p_phone boolean, p_proves_password boolean, p_password_digest text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    update auth.users
    set email_confirmed_at = case when p_phone then email_confirmed_at else coalesce(email_confirmed_at, now()) end,
        phone_confirmed_at = case when p_phone then coalesce(phone_confirmed_at, now()) else phone_confirmed_at end,
        encrypted_password = case
            when email_confirmed_at is not null or phone_confirmed_at is not null then encrypted_password
            when p_proves_password
                 and auth.password_digest(auth.unconfirmed_password(p_user_id)) = p_password_digest
                 and not exists (
                     select from auth.one_time_tokens t
                     where t.user_id = p_user_id and t.consumed_at is null and not t.options ? 'proves_password'
                       and t.token_type = any (case when p_phone then '{sms}'::text[]
                                                    else '{confirmation,magiclink,recovery,invite}'::text[] end))
                then auth.unconfirmed_password(p_user_id)
        end
    where id = p_user_id;
    update auth.user_identities
    set identity_data = identity_data || pg_catalog.jsonb_build_object(
            case when p_phone then 'phone_verified' else 'email_verified' end, true)
    where user_id = p_user_id and provider = case when p_phone then 'phone' else 'email' end;
end
$$;

-- An address goes to whoever proves it. Before p_user_id takes p_address (an address
-- change just confirmed), another user who holds it unconfirmed (someone who signed it
-- up meanwhile, and could never confirm it) loses it, and is deleted when nothing is
-- left to sign in with. A confirmed holder keeps it: false (the caller refuses).
create or replace function auth.take_address(p_user_id uuid, p_kind text, p_address text)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    holder auth.users;
begin
    select * into holder from auth.users
    where case p_kind when 'email' then email else phone end = p_address and id <> p_user_id
    for update;
    if not found then
        return true;
    end if;
    if (case p_kind when 'email' then holder.email_confirmed_at else holder.phone_confirmed_at end) is not null then
        return false;
    end if;
    if p_kind = 'email' then
        update auth.users set email = null, email_confirmed_at = null where id = holder.id;
    else
        update auth.users set phone = null, phone_confirmed_at = null where id = holder.id;
    end if;
    -- Nothing the holder was sent for the address may still sign anyone in as the holder.
    delete from auth.one_time_tokens where user_id = holder.id and relates_to = p_address and consumed_at is null;
    perform auth.sync_address_identity(holder.id, p_kind);
    if not exists (select from auth.users u where u.id = holder.id and (u.email is not null or u.phone is not null))
            and not exists (select from auth.user_identities i where i.user_id = holder.id) then
        perform auth.delete_users(array[holder.id]);
    end if;
    return true;
end
$$;
