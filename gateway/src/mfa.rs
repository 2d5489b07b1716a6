//! Supabase Auth's MFA endpoints (mfa.go, admin.go), as supabase-js' `auth.mfa` calls
//! them: each one SQL function of the extension (src/mfa/), which decides everything.

use axum::extract::Path;
use axum::response::Response;
use serde_json::Value;

use crate::request::{ok, path_uuid, Answer, Input, Needs};

handler!(
/// `POST /factors` (mfa.enroll): `{factor_type, friendly_name, issuer, phone}`.
enroll(input) {
    ok(input
        .call(
            Needs::User,
            "select auth.mfa_enroll($1, $2, $3, $4)",
            &[&input.text("factor_type"), &input.text("friendly_name"), &input.text("issuer"), &input.text("phone")],
        )
        .await?)
});

handler!(
/// `POST /factors/{id}/challenge` (mfa.challenge): `{channel}` for phone factors.
challenge(input, id: Path<String>) {
    let id = path_uuid(&input, &id.0, "factor_id")?;
    ok(input.call(Needs::User, "select auth.mfa_challenge($1::text::uuid, $2)", &[&id, &input.text("channel")]).await?)
});

handler!(
/// `POST /factors/{id}/verify` (mfa.verify): `{challenge_id, code}`; the session, now aal2.
verify(input, id: Path<String>) {
    let id = path_uuid(&input, &id.0, "factor_id")?;
    // A challenge id that is no UUID names no challenge.
    let challenge = input.text("challenge_id").and_then(|c| uuid::Uuid::parse_str(&c).ok()).map(|c| c.to_string());
    ok(input
        .call(Needs::User, "select auth.mfa_verify($1::text::uuid, $2::text::uuid, $3)", &[&id, &challenge, &input.text("code")])
        .await?)
});

handler!(
/// `DELETE /factors/{id}` (mfa.unenroll): `{id}`.
unenroll(input, id: Path<String>) {
    let id = path_uuid(&input, &id.0, "factor_id")?;
    ok(input.call(Needs::User, "select auth.mfa_unenroll($1::text::uuid)", &[&id]).await?)
});

handler!(
/// `GET /admin/users/{id}/factors` (auth.admin.mfa.listFactors reads these).
admin_list(input, id: Path<String>) {
    let user = path_uuid(&input, &id.0, "user_id")?;
    ok(input.call(Needs::Admin, "select auth.admin_list_factors($1::text::uuid)", &[&user]).await?)
});

handler!(
/// `DELETE /admin/users/{id}/factors/{factor_id}`: the factor removed.
admin_delete(input, ids: Path<(String, String)>) {
    let user = path_uuid(&input, &ids.0 .0, "user_id")?;
    let factor = path_uuid(&input, &ids.0 .1, "factor_id")?;
    let removed: Value = input.call(Needs::Admin, "select auth.admin_delete_factor($1::text::uuid, $2::text::uuid)", &[&user, &factor]).await?;
    ok(removed)
});
