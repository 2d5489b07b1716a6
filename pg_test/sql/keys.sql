-- Signing keys: the install-time key, JWKS, adding, rotating and removing keys.
\set SHOW_CONTEXT never
begin;

-- CREATE EXTENSION made one current ES256 key; the JWKS publishes only its public half.
select alg, is_current, private_key like '-----BEGIN PRIVATE KEY-----%' as pkcs8 from auth.signing_keys;
select jsonb_array_length(auth.jwks()->'keys') as keys,
       (select array_agg(k order by k) from jsonb_object_keys(auth.jwks()->'keys'->0) k) as jwk_fields;

-- A standby key of each algorithm: published (except HS256, whose key is secret), not signing.
select auth.add_signing_key('EdDSA') is not null as added,
       auth.add_signing_key('RS256') is not null as added,
       auth.add_signing_key('HS256', 'a-shared-secret-of-at-least-32-characters') is not null as added;
select alg, is_current from auth.signing_keys order by created_at, alg;
select k->>'alg' as alg, k->>'kty' as kty, k->>'crv' as crv, k ? 'd' as has_private
from jsonb_array_elements(auth.jwks()->'keys') k order by 1;

-- Rotation makes the newest standby of that algorithm current; the old key stays.
select auth.rotate_signing_key('HS256') = (select kid from auth.signing_keys where alg = 'HS256') as rotated_to_standby;
select alg, is_current from auth.signing_keys order by created_at, alg;
-- Rotating back to ES256 promotes the install-time key again: nobody was signed out.
select auth.rotate_signing_key('ES256') = (select kid from auth.signing_keys where alg = 'ES256') as rotated_back;
select count(*) as keys, count(*) filter (where is_current) as current from auth.signing_keys;

-- The current key cannot be removed; others can; unknown kids are an error.
savepoint s;
select auth.remove_signing_key((select kid from auth.signing_keys where is_current));
rollback to s;
select auth.remove_signing_key((select kid from auth.signing_keys where alg = 'RS256'));
select count(*) as rs256_keys from auth.signing_keys where alg = 'RS256';
-- Rotating to an algorithm without a standby generates a fresh key.
select auth.rotate_signing_key('RS256') is not null as generated;
select alg, is_current from auth.signing_keys where is_current;
savepoint s;
select auth.remove_signing_key('no-such-kid');
rollback to s;

-- Bad algorithms and bad material are refused.
savepoint s;
select auth.add_signing_key('none');
rollback to s;
savepoint s;
select auth.add_signing_key('HS256', 'short');
rollback to s;
savepoint s;
select auth.add_signing_key('ES256', '-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----');
rollback to s;

-- An imported Ed25519 PKCS#8 key (RFC 8410's example) is accepted, with its known public key.
select auth.add_signing_key('EdDSA', '-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----') is not null as imported;
select k->>'x' as imported_public_key from jsonb_array_elements(auth.jwks()->'keys') k
where k->>'x' = 'Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE';

-- Key material under a kid never changes.
savepoint s;
update auth.signing_keys set private_key = 'x' where alg = 'HS256';
rollback to s;

-- Key changes are audited.
select action, payload->>'alg' as alg from auth.audit_log_entries order by id;

-- Only service_role (and the owner) manage keys; everyone may read the JWKS.
set local role anon;
select jsonb_array_length(auth.jwks()->'keys') > 0 as anon_reads_jwks;
savepoint s;
select auth.rotate_signing_key();
rollback to s;
savepoint s;
select * from auth.signing_keys;
rollback to s;
reset role;
set local role authenticated;
savepoint s;
select auth.add_signing_key('ES256');
rollback to s;
reset role;
set local role service_role;
select auth.add_signing_key('ES256') is not null as service_role_adds;
savepoint s;
select private_key from auth.signing_keys;
rollback to s;
reset role;

rollback;
