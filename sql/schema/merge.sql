-- What merging an anonymous user into an account moves: registered handlers and columns.

-- Per-table handlers for rows that would clash with the target's under a unique
-- constraint: handler(anonymous_user uuid, target_user uuid) merges them itself.
create table auth.merge_handlers (
    tbl     regclass primary key,
    handler regprocedure not null
);

-- Columns that hold a user id without a foreign key to auth.users.
create table auth.merge_columns (
    tbl regclass not null,
    col name not null,
    primary key (tbl, col)
);
