-- The todo app's table. Run as the database owner, after `create extension auth_ext`:
--   psql app -v ON_ERROR_STOP=1 -f examples/todo-app/schema.sql
-- Anonymous sign-ins ("Continue as guest") must be on too:
--   alter database app set auth_ext.anonymous_sign_ins = on;

create table public.todos (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users on delete cascade,
  task text not null check (length(task) between 1 and 500),
  is_complete boolean not null default false,
  inserted_at timestamptz not null default now()
);

-- Row-level security: each user sees and changes only their own todos (anonymous ones too).
select auth.enable_owner_policies('public.todos');
grant select, insert, update, delete on public.todos to authenticated;

-- Merges (auth.merge_anonymous_user) may move a guest's todos to the account it signs in to.
grant select, update, delete on public.todos to auth_ext_app;
-- This table's owner is a superuser here, so merges move its rows as auth_ext_app,
-- which row-level security would otherwise hide them from (README, "Security model").
create policy auth_ext_merge on public.todos to auth_ext_app using (true);
