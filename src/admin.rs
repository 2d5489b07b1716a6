//! The admin API, for service_role: create, update, delete and list users, and make
//! one-time links without sending them. Attribute names follow Supabase Auth's admin API.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::{db, passwords, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::users::{self, Lookup, NewUser, pg_uuid};
use crate::verification::outbox;
use crate::verification::one_time::{self, TokenType};

/// The attributes `admin_create_user` and `admin_update_user_by_id` take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    email_confirm: Option<bool>,
    phone_confirm: Option<bool>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    /// `none` lifts a ban; otherwise a Postgres interval (`24h`, `7 days`).
    ban_duration: Option<String>,
    role: Option<String>,
}

fn attributes(value: Option<Value>) -> AuthResult<Attributes> {
    let value = match value {
        None | Some(Value::Null) => json!({}),
        Some(v) => v,
    };
    serde_json::from_value(value).map_err(|e| {
        AuthError::new(ErrorCode::ValidationFailed, "invalid attributes").detail(e.to_string()).hint(
            "Known attributes: email, phone, password, email_confirm, phone_confirm, user_metadata, app_metadata, ban_duration, role.",
        )
    })
}

/// A user's role ends up in its tokens, and PostgREST becomes it: the token rule decides.
fn check_role(role: &str) -> AuthResult<()> {
    crate::tokens::jwt::check_token_role(role)
}

fn hashed_password(password: Option<&str>) -> AuthResult<Option<String>> {
    password
        .map(|p| {
            passwords::check_strength(p)?;
            passwords::hash(p)
        })
        .transpose()
}

/// Creates a user. The `handle_new_user` trigger adds its identities, so the Feishu
/// recipe's `user_metadata.oauth_provider` / `oauth_open_id` become an identity too.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_create_user(attributes: Option<pgrx::JsonB>) -> Result<pgrx::JsonB, ErrorReport> {
    let a = self::attributes(attributes.map(|j| j.0))?;
    if a.ban_duration.is_some() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "ban_duration applies to existing users")
            .hint("Use auth.admin_update_user_by_id.")
            .into());
    }
    // admin.go:404-405.
    if a.email.is_none() && a.phone.is_none() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Cannot create a user without either an email or phone").into());
    }
    let provider = if a.email.is_some() { "email" } else { "phone" };
    let mut app_metadata = users::provider_metadata(provider);
    if let Value::Object(extra) = users::metadata(a.app_metadata, "app_metadata")? {
        app_metadata.as_object_mut().expect("an object").extend(extra);
    }
    // Supabase Auth checks the addresses first, and a new user's password for its length
    // only (admin.go:388-572): the application's server chose it.
    if let Some(email) = a.email.as_deref() {
        Lookup::Email(email).check()?;
    }
    if let Some(phone) = a.phone.as_deref() {
        Lookup::Phone(phone).check()?;
    }
    let password_hash = match a.password.as_deref() {
        Some(p) if p.len() > 72 => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "Password cannot be longer than 72 characters").into())
        }
        Some(p) => Some(passwords::hash(p)?),
        None => None,
    };
    let new_user = NewUser {
        email: a.email,
        phone: a.phone,
        password_hash,
        email_confirmed: a.email_confirm.unwrap_or(false),
        phone_confirmed: a.phone_confirm.unwrap_or(false),
        user_metadata: users::metadata(a.user_metadata, "user_metadata")?,
        app_metadata,
        is_anonymous: false,
        signing_in: false,
    };
    // The application's server vouches for the identity its metadata names (the Feishu
    // recipe): the handle_new_user trigger makes it for this insert only.
    settings::set_internal_local(settings::METADATA_VOUCHED_NAME, "on");
    let created = users::create(&new_user);
    settings::set_internal_local(settings::METADATA_VOUCHED_NAME, "");
    let user_id = created?;
    if let Some(role) = a.role.as_deref() {
        check_role(role)?;
        db::run("update auth.users set role = $2 where id = $1", &[pg_uuid(&user_id).into(), role.into()])?;
    }
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}

/// Updates a user at once: metadata merged one level deep (a null value deletes the
/// key), email, phone and password replaced, confirmations and bans applied.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_update_user_by_id(id: pgrx::Uuid, attributes: Option<pgrx::JsonB>) -> Result<pgrx::JsonB, ErrorReport> {
    let user_id = uuid::Uuid::from_bytes(*id.as_bytes());
    let a = self::attributes(attributes.map(|j| j.0))?;
    if let Some(role) = a.role.as_deref() {
        check_role(role)?;
    }
    let user_metadata = a.user_metadata.map(|m| users::metadata(Some(m), "user_metadata")).transpose()?;
    let app_metadata = a.app_metadata.map(|m| users::metadata(Some(m), "app_metadata")).transpose()?;
    let ban = a.ban_duration.as_deref().map(ban_seconds).transpose()?;
    let password_hash = hashed_password(a.password.as_deref())?;
    let updated: Option<bool> = db::json_row(
        "update auth.users set
             email = case when $2::text is null then email else $2 end,
             phone = case when $3::text is null then phone else $3 end,
             email_confirmed_at = case when $2::text is not null and auth.normalize_address($2, 'email') is distinct from email then
                                           case when $5 then now() end
                                       when $5 then coalesce(email_confirmed_at, now())
                                       when $5 = false then null
                                       else email_confirmed_at end,
             phone_confirmed_at = case when $3::text is not null then case when $6 then now() end
                                       when $6 then coalesce(phone_confirmed_at, now())
                                       when $6 = false then null
                                       else phone_confirmed_at end,
             encrypted_password = coalesce($4, encrypted_password),
             raw_user_meta_data = coalesce(auth.merge_metadata(raw_user_meta_data, $7), raw_user_meta_data),
             raw_app_meta_data = coalesce(auth.merge_metadata(raw_app_meta_data, $8), raw_app_meta_data),
             banned_until = case when $9::float8 is null then banned_until
                                 when $9 = 0 then null
                                 else now() + make_interval(secs => $9) end,
             role = coalesce($10, role)
         where id = (select id from auth.live_users where id = $1)
         returning to_jsonb(true)",
        &[
            pg_uuid(&user_id).into(),
            a.email.clone().into(),
            a.phone.clone().into(),
            password_hash.clone().into(),
            a.email_confirm.into(),
            a.phone_confirm.into(),
            user_metadata.map(pgrx::JsonB).into(),
            app_metadata.map(pgrx::JsonB).into(),
            ban.into(),
            a.role.into(),
        ],
    )?;
    if updated.is_none() {
        return Err(AuthError::new(ErrorCode::UserNotFound, "User not found").into());
    }
    // While the user is unconfirmed its password is its latest sign-up's
    // (auth.unconfirmed_password): the operator's is the latest now.
    if let Some(hash) = &password_hash {
        db::run(
            "insert into auth.sign_up_passwords (user_id, requested_from, password_hash)
             select id, 'admin', $2 from auth.users
             where id = $1 and email_confirmed_at is null and phone_confirmed_at is null
             on conflict (user_id, requested_from) do update set password_hash = excluded.password_hash, set_at = excluded.set_at",
            &[pg_uuid(&user_id).into(), hash.as_str().into()],
        )?;
    }
    if a.email.is_some() {
        db::run("select auth.sync_address_identity($1, 'email')", &[pg_uuid(&user_id).into()])?;
    }
    if a.phone.is_some() {
        db::run("select auth.sync_address_identity($1, 'phone')", &[pg_uuid(&user_id).into()])?;
    }
    db::run(
        "insert into auth.audit_log_entries (actor_id, action, payload)
         values (auth.uid(), 'user_modified', jsonb_build_object('user_id', $1::uuid, 'attributes', $2::jsonb))",
        &[pg_uuid(&user_id).into(), db::jsonb_arg(&audited_changes(&a.password, a.ban_duration.as_deref()))],
    )?;
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}

/// A ban duration in seconds, as Supabase's admin API takes it: `none` (0, lifting the
/// ban) or a Go duration such as `24h`, `1h30m`, `90s`.
fn ban_seconds(text: &str) -> AuthResult<f64> {
    let text = text.trim();
    if text == "none" {
        return Ok(0.0);
    }
    let bad = || {
        AuthError::new(ErrorCode::ValidationFailed, "invalid ban_duration")
            .detail(format!("{:?} is neither none nor a duration like 24h, 1h30m, 90s", text.chars().take(40).collect::<String>()))
    };
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if total <= 0.0 || total > 100.0 * 365.0 * 86400.0 {
        return Err(bad());
    }
    Ok(total)
}

/// What the audit log records of an update: never the password itself.
fn audited_changes(password: &Option<String>, ban: Option<&str>) -> Value {
    json!({"password_changed": password.is_some(), "ban_duration": ban})
}

/// Deletes a user: with its identities, sessions and every row whose foreign key
/// cascades. `soft` keeps the row (deleted_at set, addresses cleared so they can be
/// used again) but removes identities and sessions, so the user can no longer sign in.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_delete_user(id: pgrx::Uuid, soft: default!(bool, false)) -> Result<(), ErrorReport> {
    // Deleting cascades into application tables, whose triggers run there: contained.
    let found: Option<bool> = crate::core::roles::contained(|| db::json_row(
        "with target as (select id from auth.live_users where id = $1),
         hard as (delete from auth.users u using target t where u.id = t.id and not $2),
         soft_user as (update auth.users u set deleted_at = now(), email = null, phone = null,
                                               email_change = null, phone_change = null, encrypted_password = null
                       from target t where u.id = t.id and $2),
         soft_identities as (delete from auth.user_identities i using target t where i.user_id = t.id and $2),
         soft_sessions as (delete from auth.sessions s using target t where s.user_id = t.id and $2),
         audit as (insert into auth.audit_log_entries (actor_id, action, payload)
                   select auth.uid(), 'user_deleted', jsonb_build_object('user_id', id, 'soft', $2) from target)
         select to_jsonb(true) from target",
        &[id.into(), soft.into()],
    ))?;
    if found.is_none() {
        return Err(AuthError::new(ErrorCode::UserNotFound, "User not found").into());
    }
    Ok(())
}

/// A page of users, newest first as Supabase Auth lists them (oldest first when
/// `ascending`): `{users, total, page, per_page}`. `filter`, as Supabase Auth's, keeps the
/// users whose email contains it (LIKE, so `%` and `_` match anything) or whose
/// `user_metadata.full_name` does, in any case (ILIKE).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_list_users(
    page: default!(i32, 1),
    per_page: default!(i32, 50),
    filter: default!(Option<&str>, "NULL"),
    ascending: default!(bool, false),
) -> Result<pgrx::JsonB, ErrorReport> {
    if page < 1 || !(1..=1000).contains(&per_page) {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "page must be 1 or more and per_page 1 to 1000").into());
    }
    let listed: Option<Value> = db::json_row(
        "with matching as (
             select id, created_at from auth.live_users
             where $3::text is null or email like '%' || $3 || '%'
                or raw_user_meta_data->>'full_name' ilike '%' || $3 || '%'),
         page as (
             select id, created_at from matching
             order by case when $4 then created_at end, case when $4 then id end,
                      created_at desc, id desc
             offset ($1 - 1)::bigint * $2 limit $2)
         select jsonb_build_object(
             'users', coalesce((select jsonb_agg(auth.user_json(id)
                 order by case when $4 then created_at end, case when $4 then id end,
                          created_at desc, id desc) from page), '[]'),
             'total', (select count(*) from matching),
             'page', $1, 'per_page', $2)",
        &[page.into(), per_page.into(), filter.into(), ascending.into()],
    )?;
    Ok(pgrx::JsonB(listed.unwrap_or_default()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkOptions {
    password: Option<String>,
    data: Option<Value>,
    new_email: Option<String>,
    redirect_to: Option<String>,
}

/// Makes a one-time link and code without sending anything, for servers that deliver
/// their own messages: the user object, as Supabase Auth's `generate_link` answers, with
/// `action_link`, `hashed_token`, `email_otp`, `redirect_to` and `verification_type`
/// beside its fields. A signup, invite or magiclink for a new email creates the user.
/// Called as `auth.admin_generate_link(type, email, options)` (sql/access.sql).
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn generate_link(
    link_type: Option<&str>,
    email: Option<&str>,
    options: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<pgrx::JsonB, ErrorReport> {
    let link_type = link_type.ok_or_else(|| AuthError::new(ErrorCode::ValidationFailed, "type is required")
        .hint(format!("One of {}.", TokenType::link_types())))?;
    let email = required_email(email)?;
    let (user_id, issued, link) = make_link(link_type, email, options.map(|o| o.0))?;
    let mut answer = users::user_json(&user_id)?;
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("action_link".into(), link.action_link.into());
        fields.insert("hashed_token".into(), issued.hashed_token.clone().into());
        fields.insert("email_otp".into(), issued.code.clone().into());
        fields.insert("redirect_to".into(), link.redirect_to.into());
        fields.insert("verification_type".into(), issued.token_type.verification_type().into());
    }
    Ok(pgrx::JsonB(answer))
}

/// Invites a new user by email, as Supabase Auth's `/invite`: creates the user (with
/// `data` as metadata) and queues an invite link and code, which sign the user in.
/// A registered, confirmed address is `email_exists`. Returns the user.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn invite_user_by_email(
    email: Option<&str>,
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    redirect_to: default!(Option<&str>, "NULL"),
) -> Result<pgrx::JsonB, ErrorReport> {
    let email = required_email(email)?;
    if users::find_serialized(Lookup::Email(email))?.is_some_and(|a| a.email_confirmed) {
        return Err(users::address_taken(Some(email), None)?.into());
    }
    let options = json!({"data": data.map(|d| d.0).unwrap_or(json!({})), "redirect_to": redirect_to});
    let (user_id, issued, link) = make_link("invite", email, Some(options))?;
    outbox::send(&user_id, email, &issued, json!({"action_link": link.action_link}))?;
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}

/// The email a link or invite is for: required, and checked before anything else.
fn required_email(email: Option<&str>) -> AuthResult<&str> {
    let email = email.unwrap_or_default();
    Lookup::Email(email).check()?;
    Ok(email)
}

struct Link {
    action_link: String,
    redirect_to: Option<String>,
}

/// The user, token and link of `generate_link` (which returns them) and
/// `invite_user_by_email` (which sends them).
fn make_link(link_type: &str, email: &str, options: Option<Value>) -> AuthResult<(uuid::Uuid, one_time::Issued, Link)> {
    // The address first, as Supabase Auth checks it (mail.go:52-316).
    Lookup::Email(email).check()?;
    let options: LinkOptions = match options {
        None | Some(Value::Null) => LinkOptions::default(),
        Some(v) => serde_json::from_value(v).map_err(|e| {
            AuthError::new(ErrorCode::ValidationFailed, "invalid options")
                .detail(e.to_string())
                .hint("Known options: password, data, new_email, redirect_to.")
        })?,
    };
    let Some(token_type) = TokenType::of_link_type(link_type) else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "unknown link type").detail(format!(
            "{:?} is not one of {}",
            link_type.chars().take(40).collect::<String>(),
            TokenType::link_types()
        )));
    };
    let existing = users::find_serialized(Lookup::Email(email))?;
    // As Supabase Auth: a magic link for an address nobody has is a sign-up (mail.go:78-84).
    let token_type = match (&existing, token_type) {
        (None, TokenType::Magiclink) => TokenType::Confirmation,
        (_, token_type) => token_type,
    };
    // The password the operator gives a signup link is the one its confirmation proves.
    let password_hash = hashed_password(options.password.as_deref())?;
    let user_id = match (existing, token_type) {
        // As GoTrue: a registered address gets no signup link once confirmed; an
        // unconfirmed one gets a fresh link (and the password given, if any).
        (Some(account), TokenType::Confirmation) if account.email_confirmed => {
            return Err(users::address_taken(Some(email), None)?)
        }
        (Some(account), TokenType::Confirmation) => {
            let user_id = users::parse_id(&account.id)?;
            if let Some(hash) = &password_hash {
                db::run("update auth.users set encrypted_password = $2 where id = $1", &[pg_uuid(&user_id).into(), hash.as_str().into()])?;
            }
            user_id
        }
        (Some(account), _) => users::parse_id(&account.id)?,
        (None, TokenType::Confirmation | TokenType::Invite) => users::create(&NewUser {
            email: Some(email.to_owned()),
            password_hash: password_hash.clone(),
            user_metadata: users::metadata(options.data.clone(), "data")?,
            app_metadata: users::provider_metadata("email"),
            ..Default::default()
        })?,
        (None, _) => return Err(AuthError::new(ErrorCode::UserNotFound, "User with this email not found")),
    };
    let relates_to = match token_type {
        TokenType::EmailChangeCurrent | TokenType::EmailChangeNew => {
            let Some(new_email) = options.new_email.as_deref() else {
                return Err(AuthError::new(ErrorCode::ValidationFailed, "email change links need options.new_email"));
            };
            users::check_address(new_email, "new email address")?;
            if users::find(Lookup::Email(new_email))?.is_some() {
                return Err(users::address_taken(Some(new_email), None)?);
            }
            crate::account::address_change::start_address_change(&user_id, new_email, false)?;
            if token_type == TokenType::EmailChangeNew { new_email.to_owned() } else { email.to_owned() }
        }
        _ => email.to_owned(),
    };
    // Proves the operator's password, if one was given; else none (a password someone set
    // by signing up is nobody's to prove by an operator's link).
    let proof = match (&password_hash, token_type) {
        (Some(hash), TokenType::Confirmation) => crate::flows::signup::proof_of(true, hash)?,
        (None, TokenType::Confirmation) => json!({"proves_password": false}),
        _ => json!({}),
    };
    let issued = one_time::issue_with_options(&user_id, token_type, &relates_to, &proof)?;
    let link = issued.action_link(options.redirect_to.as_deref());
    Ok((user_id, issued, Link { action_link: link, redirect_to: options.redirect_to }))
}

