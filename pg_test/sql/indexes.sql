-- Scale: every foreign key in schema auth has an index that leads with its columns (and
-- covers every row: no partial index), so deleting a user or a session, and checking a
-- new row, never scans the referencing table. Expected: no rows.
select c.conrelid::regclass as tbl, c.conname as foreign_key_without_index
from pg_constraint c
where c.contype = 'f' and c.connamespace = 'auth'::regnamespace
  and not exists (
      select from pg_index i
      where i.indrelid = c.conrelid and i.indpred is null
        and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) k)
          = (select array_agg(k order by k) from unnest(c.conkey) k))
order by 1, 2;
