-- pgbench floor: a transaction that inserts one row with a generated uuid key.
insert into bench.inserted default values;
