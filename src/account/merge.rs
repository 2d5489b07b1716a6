//! Merging an anonymous user into an existing account: everything the anonymous user
//! owns moves to the signed-in user, in one transaction, and the anonymous user goes.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::{db, roles};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::verify;
use crate::sessions::current::current_user;
use crate::users::{self, pg_uuid};

/// Moves everything an anonymous user owns to the signed-in user and deletes the
/// anonymous user, in one transaction. The caller proves control of the anonymous
/// session with its access token. Every table with a foreign key to auth.users(id)
/// (found from the catalog) and every registered column is re-pointed; rows that would
/// clash under a unique constraint follow `strategy`: `keep_target`, `keep_anonymous`,
/// or `merge` (the table's registered handler, else `merge_conflict` naming the table).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn merge_anonymous_user(
    anonymous_access_token: Option<&str>,
    strategy: default!(&str, "'merge'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || merge_into_own_account(anonymous_access_token, strategy))
}

fn merge_into_own_account(
    anonymous_access_token: Option<&str>,
    strategy: &str,
) -> Result<pgrx::JsonB, ErrorReport> {
    if !matches!(strategy, "merge" | "keep_target" | "keep_anonymous") {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "strategy must be merge, keep_target or keep_anonymous").into());
    }
    let (target, _) = current_user()?;
    let anonymous_claims = verify::verify_session(anonymous_access_token.unwrap_or_default().trim())?;
    let source = anonymous_claims
        .get("sub")
        .and_then(Value::as_str)
        .map(users::parse_id)
        .transpose()?
        .ok_or_else(|| AuthError::new(ErrorCode::BadJwt, "the anonymous token has no sub"))?;
    if source == target {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "the anonymous user and the target user are the same").into());
    }
    // Both users locked, in id order, so concurrent merges cannot deadlock.
    let anonymous: Option<bool> = db::json_row(
        "select (jsonb_object_agg(id, is_anonymous))->($1::text)
         from (select id, is_anonymous from auth.live_users where id in ($1, $2)
               order by id for update) locked",
        &[pg_uuid(&source).into(), pg_uuid(&target).into()],
    )?;
    match anonymous {
        None => return Err(AuthError::new(ErrorCode::UserNotFound, "the anonymous user no longer exists").into()),
        Some(false) => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "the token's user is not anonymous")
                .detail("only anonymous users are merged into another account")
                .into())
        }
        Some(true) => {}
    }
    let moved = move_rows(&source, &target, strategy)?;
    let moved = Some(Value::Array(moved));
    // Deleting cascades into application tables, whose triggers run there: contained.
    roles::contained(|| db::run(
        "with gone as (delete from auth.users where id = $1 returning id)
         insert into auth.audit_log_entries (actor_id, action, payload)
         select $2, 'user_merged', jsonb_build_object('anonymous_user_id', id, 'strategy', $3::text, 'moved', $4) from gone",
        &[pg_uuid(&source).into(), pg_uuid(&target).into(), strategy.into(), db::jsonb_arg(moved.as_ref().unwrap_or(&json!([])))],
    ))?;
    Ok(pgrx::JsonB(json!({
        "anonymous_user_id": source.to_string(),
        "user_id": target.to_string(),
        "strategy": strategy,
        "moved": moved.unwrap_or(json!([])),
    })))
}

#[derive(Debug, Deserialize)]
struct UserIdColumn {
    tbl: u32,
    owner: u32,
    name: String,
    col: String,
    col_type: String,
    handler: Option<String>,
    /// auth_ext_app may read and move rows (select, update), and drop clashing ones (delete).
    may_move: bool,
    may_delete: bool,
}

/// Re-points every row that references `source` to `target`, table by table, as
/// auth_ext_app: a merge moves rows only where the application granted that role the
/// right to, and fails naming the table wherever the anonymous user has rows it may not
/// move (they would otherwise be cascade-deleted with the anonymous user, or block it).
fn move_rows(source: &uuid::Uuid, target: &uuid::Uuid, strategy: &str) -> AuthResult<Vec<Value>> {
    let columns: Vec<UserIdColumn> = db::json_row(
        "select coalesce(jsonb_agg(jsonb_build_object(
             'tbl', c.tbl::oid::int8, 'owner', (select relowner::int8 from pg_class where oid = c.tbl), 'name', c.tbl::text, 'col', c.col, 'col_type', c.col_type, 'handler', h.handler::text,
             'may_move', has_table_privilege('auth_ext_app', c.tbl, 'SELECT, UPDATE'),
             'may_delete', has_table_privilege('auth_ext_app', c.tbl, 'DELETE'))
             order by c.tbl::text, c.col), '[]')
         from auth.user_id_columns() c left join auth.merge_handlers h on h.tbl = c.tbl",
        &[],
    )?
    .unwrap_or_default();
    let refused = |column: &UserIdColumn, why: &str, hint: String| {
        AuthError::new(ErrorCode::MergeNotAllowed, format!("the anonymous user has rows in {} that the merge may not move", column.name))
            .detail(format!("{}.{}: {why}", column.name, column.col))
            .hint(hint)
    };
    let grant_hint = |column: &UserIdColumn| {
        let delete = if strategy == "merge" { "" } else { ", delete" };
        format!("To let merges move them: grant select, update{delete} on {} to auth_ext_app;", column.name)
    };
    let mut moved = Vec::new();
    for column in &columns {
        if referencing(column, source)?.is_empty() {
            continue;
        }
        if !column.may_move || (strategy != "merge" && !column.may_delete) {
            return Err(refused(column, "auth_ext_app lacks the privileges", grant_hint(column)));
        }
        // As the table's owner, so that its triggers run with no more than the owner's rights.
        let result: Option<Value> = roles::as_code_owner(pgrx::pg_sys::Oid::from(column.owner), || {
            db::json_row(
                "select auth.merge_column($1::oid::regclass, $2, $3, $4, $5, $6, $7::regprocedure)",
                &[
                    pgrx::pg_sys::Oid::from(column.tbl).into(),
                    column.col.as_str().into(),
                    column.col_type.as_str().into(),
                    pg_uuid(source).into(),
                    pg_uuid(target).into(),
                    strategy.into(),
                    column.handler.as_deref().into(),
                ],
            )
        })?;
        if !referencing(column, source)?.is_empty() {
            return Err(refused(
                column,
                "rows remain that auth_ext_app cannot see (row-level security) or that the handler left",
                format!("Give auth_ext_app a policy on {0}, e.g. create policy auth_ext_merge on {0} to auth_ext_app using (true);", column.name),
            ));
        }
        let mut entry = json!({"table": column.name, "column": column.col});
        if let (Value::Object(e), Some(Value::Object(r))) = (&mut entry, result) {
            e.extend(r);
        }
        moved.push(entry);
    }
    Ok(moved)
}

/// Whether rows of the column still reference `user`, seen as the table's owner.
fn referencing(column: &UserIdColumn, user: &uuid::Uuid) -> AuthResult<Vec<pgrx::Uuid>> {
    let found: Option<Vec<pgrx::Uuid>> = db::read_value(
        "select auth.referencing_user_ids($1, $2, array[$3])",
        &[pgrx::pg_sys::Oid::from(column.tbl).into(), column.col.as_str().into(), pg_uuid(user).into()],
    )?;
    Ok(found.unwrap_or_default())
}
