//! Creating and finding users: one place that every flow and the admin API go through.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::db;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

pub fn pg_uuid(id: &uuid::Uuid) -> pgrx::Uuid {
    pgrx::Uuid::from_bytes(*id.as_bytes())
}

/// Metadata arguments must be JSON objects; NULL is an empty object.
pub fn metadata(value: Option<Value>, name: &str) -> AuthResult<Value> {
    match value {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(AuthError::new(ErrorCode::ValidationFailed, format!("{name} must be a JSON object"))),
    }
}

/// `{"provider": p, "providers": [p]}`, the app_metadata Supabase Auth gives a new user.
pub fn provider_metadata(provider: &str) -> Value {
    json!({"provider": provider, "providers": [provider]})
}

#[derive(Debug)]
pub struct NewUser {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub email_confirmed: bool,
    pub phone_confirmed: bool,
    pub user_metadata: Value,
    pub app_metadata: Value,
    pub is_anonymous: bool,
    /// Signed in by the same call (anonymous sign-ins): last_sign_in_at is set by the
    /// insert, so that opening the session need not update the row just written.
    pub signing_in: bool,
}

impl Default for NewUser {
    fn default() -> Self {
        NewUser {
            email: None,
            phone: None,
            password_hash: None,
            email_confirmed: false,
            phone_confirmed: false,
            user_metadata: json!({}),
            app_metadata: json!({}),
            is_anonymous: false,
            signing_in: false,
        }
    }
}

/// Inserts a user (the trigger adds its identities) and audits the sign-up. A taken
/// email or phone is `email_exists` / `phone_exists`, never a raw constraint error.
pub fn create(user: &NewUser) -> AuthResult<uuid::Uuid> {
    let id: Option<String> = db::json_row(
        "with created as (
             insert into auth.users (email, phone, encrypted_password, email_confirmed_at, phone_confirmed_at,
                                     raw_user_meta_data, raw_app_meta_data, is_anonymous, last_sign_in_at)
             values ($1, $2, $3, case when $4 then now() end, case when $5 then now() end, $6, $7, $8,
                     case when $9 then now() end)
             on conflict do nothing
             returning id),
         audit as (
             insert into auth.audit_log_entries (actor_id, action, payload)
             select id, 'user_signedup', jsonb_build_object('provider', $7->>'provider') from created)
         select to_jsonb(id) from created",
        &[
            user.email.clone().into(),
            user.phone.clone().into(),
            user.password_hash.clone().into(),
            user.email_confirmed.into(),
            user.phone_confirmed.into(),
            db::jsonb_arg(&user.user_metadata),
            db::jsonb_arg(&user.app_metadata),
            user.is_anonymous.into(),
            user.signing_in.into(),
        ],
    )?;
    match id {
        Some(id) => parse_id(&id),
        None => Err(address_taken(user.email.as_deref(), user.phone.as_deref())?),
    }
}

pub fn parse_id(text: &str) -> AuthResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "an internal id is not a uuid").detail(text.to_owned()))
}

/// Which of an email and a phone another user (other than `except`) already has, as
/// the error to raise.
pub fn address_taken(email: Option<&str>, phone: Option<&str>) -> AuthResult<AuthError> {
    #[derive(Deserialize)]
    struct Taken {
        email: bool,
        phone: bool,
    }
    let taken: Taken = db::read_row(
        "select jsonb_build_object(
             'email', exists (select from auth.users where email = auth.normalize_address($1, 'email')),
             'phone', exists (select from auth.users where phone = auth.normalize_address($2, 'phone')))",
        &[email.into(), phone.into()],
    )?
    .expect("the statement returns a row");
    Ok(if taken.email {
        AuthError::new(ErrorCode::EmailExists, "A user with this email address has already been registered")
    } else if taken.phone {
        AuthError::new(ErrorCode::PhoneExists, "A user with this phone number has already been registered")
    } else {
        AuthError::new(ErrorCode::UnexpectedFailure, "the user could not be created")
    })
}

/// What sign-in needs to know of the user with an email or phone.
#[derive(Debug, Deserialize)]
pub struct Account {
    pub id: String,
    pub encrypted_password: Option<String>,
    pub email_confirmed: bool,
    pub phone_confirmed: bool,
}

/// The live (not deleted) user with this email or phone, if any.
pub fn find(by: Lookup<'_>) -> AuthResult<Option<Account>> {
    macro_rules! account_where {
        ($condition:literal) => {
            concat!(
                "select jsonb_build_object('id', id, 'encrypted_password', encrypted_password,
                     'email_confirmed', email_confirmed_at is not null, 'phone_confirmed', phone_confirmed_at is not null)
                 from auth.live_users where ",
                $condition
            )
        };
    }
    let (sql, key) = match by {
        Lookup::Email(email) => (account_where!("email = auth.normalize_address($1, 'email')"), email),
        Lookup::Phone(phone) => (account_where!("phone = auth.normalize_address($1, 'phone')"), phone),
    };
    db::read_row(sql, &[key.into()])
}

/// `find`, after waiting for any other call that may be creating a user with this
/// address in a transaction not yet committed: flows that create the user when it is
/// missing use it, so that concurrent first requests end with one user and all succeed.
pub fn find_serialized(by: Lookup<'_>) -> AuthResult<Option<Account>> {
    // An address that has a user needs no lock: taking one for it would let a stranger who
    // asks about the address and leaves the transaction open hold up its owner's requests.
    if let Some(found) = find(by)? {
        return Ok(Some(found));
    }
    let (Lookup::Email(address) | Lookup::Phone(address)) = by;
    let is_phone = matches!(by, Lookup::Phone(_));
    db::lock(&format!("address:{is_phone}:{}", normalize_address(address, is_phone)?))?;
    find(by)
}

#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Email(&'a str),
    Phone(&'a str),
}

impl<'a> Lookup<'a> {
    /// An email address, or a phone number when `phone`.
    pub fn of(address: &'a str, phone: bool) -> Self {
        if phone {
            Lookup::Phone(address)
        } else {
            Lookup::Email(address)
        }
    }

    /// Checks that the address was given (`check_address`): enough to look it up.
    pub fn given(self) -> AuthResult<Self> {
        match self {
            Lookup::Email(email) => check_address(email, "email address")?,
            Lookup::Phone(phone) => check_address(phone, "phone number")?,
        }
        Ok(self)
    }

    /// What is wrong with the address by the one rule (`auth.address_problem`), if anything.
    pub fn problem(self) -> AuthResult<Option<String>> {
        let (Lookup::Email(address) | Lookup::Phone(address)) = self;
        let kind = if matches!(self, Lookup::Phone(_)) { "phone" } else { "email" };
        db::read_value("select auth.address_problem(auth.normalize_address($1, $2), $2)", &[address.into(), kind.into()])
    }

    /// `given`, and that it is a plausible address by the one rule
    /// (`auth.check_address_format`): before a flow counts, stores or sends to it.
    pub fn check(self) -> AuthResult<Self> {
        let (Lookup::Email(address) | Lookup::Phone(address)) = self.given()?;
        let kind = if matches!(self, Lookup::Phone(_)) { "phone" } else { "email" };
        db::run("select auth.check_address_format(auth.normalize_address($1, $2), $2)", &[address.into(), kind.into()])?;
        Ok(self)
    }
}

/// The user object of Supabase Auth's API.
pub fn user_json(id: &uuid::Uuid) -> AuthResult<Value> {
    db::read_row("select auth.user_json($1)", &[pg_uuid(id).into()])?
        .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "User not found"))
}

/// An address as it is stored, by the one rule in SQL (`auth.normalize_address`).
pub fn normalize_address(address: &str, phone: bool) -> AuthResult<String> {
    let kind = if phone { "phone" } else { "email" };
    let normalized: Option<String> =
        db::read_row("select to_jsonb(coalesce(auth.normalize_address($1, $2), ''))", &[address.into(), kind.into()])?;
    Ok(normalized.unwrap_or_default())
}

/// Checks that an address argument was given. Its form is one rule in SQL
/// (`auth.check_address_format`), which `Lookup::check` and every write of a user apply.
pub fn check_address(value: &str, what: &str) -> AuthResult<()> {
    if value.trim().is_empty() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("a valid {what} is required")));
    }
    Ok(())
}

/// Deletes users, with whatever cascades from them into application tables, whose
/// triggers may change settings: those changes end with the delete (roles::contained).
/// For the extension's own functions (the cleanup); granted to no one.
#[pgrx::pg_extern(volatile)]
fn delete_users(ids: Vec<pgrx::Uuid>) -> Result<i64, pgrx::pg_sys::panic::ErrorReport> {
    let deleted: Option<i64> = crate::core::roles::contained(|| {
        // Sessions and their tokens set by set, first: the foreign keys' cascades would
        // delete them user by user, and session by session.
        db::run(
            "delete from auth.refresh_tokens t using auth.sessions s where s.user_id = any($1) and t.session_id = s.id",
            &[ids.clone().into()],
        )?;
        db::run("delete from auth.sessions where user_id = any($1)", &[ids.clone().into()])?;
        db::json_row("with gone as (delete from auth.users where id = any($1) returning 1) select to_jsonb(count(*)) from gone", &[ids.into()])
    })?;
    Ok(deleted.unwrap_or(0))
}

/// Checks a provider name and subject before they reach the identities table.
pub fn check_identity(provider: &str, provider_id: &str) -> AuthResult<String> {
    let provider = provider.trim().to_lowercase();
    let well_formed = !provider.is_empty()
        && provider.len() <= 64
        && provider.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if !well_formed {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "invalid provider name")
            .detail("a provider is 1 to 64 of a-z, 0-9, '_', '.', ':', '-' (custom:name for one's own, as Supabase Auth names them)"));
    }
    if provider_id.trim().is_empty() || provider_id.len() > 512 {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "invalid provider_id")
            .detail("the provider's subject is 1 to 512 bytes"));
    }
    Ok(provider)
}
