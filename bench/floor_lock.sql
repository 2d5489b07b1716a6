-- pgbench floor: a transaction that locks one of 10,000 rows (select for update).
\set id random(1, 10000)
select id from bench.locked where id = :id for update;
