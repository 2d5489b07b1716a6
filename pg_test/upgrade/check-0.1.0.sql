-- After the upgrade: the live token refreshes, the spent one is spent (its time kept),
-- the revoked session is revoked, and the one-time token is still usable.
select count(*) filter (where spent_at is null) || ' live, ' || count(*) filter (where spent_at is not null) || ' spent'
from auth.refresh_tokens where session_id = '00000000-0000-0000-0000-0000000000e1';
select auth.refresh_session('live-token')->>'token_type';
select reason from auth.session_revocations where session_id = '00000000-0000-0000-0000-0000000000e2';
create function pg_temp.error_of(statement text) returns text language plpgsql as $$
begin
    execute statement;
    return 'no error';
exception when others then
    return split_part(sqlerrm, ':', 1);
end $$;
select pg_temp.error_of($$select auth.refresh_session('revoked-token')$$);
select pg_temp.error_of($$select auth.refresh_session('spent-token')$$);
select count(*) from auth.one_time_tokens where token_type = 'magiclink' and consumed_at is null;
select proowner::regrole from pg_proc where proname = 'operator_helper';
