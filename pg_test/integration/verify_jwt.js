// Verifies a JWT against a JWKS with Node's own crypto (OpenSSL), independently of
// the extension's JWT library. Usage: node verify_jwt.js <jwks-json> <token>
// Prints "ok <alg>" or "fail <reason>"; exits 0 either way (the caller compares).
'use strict';
const crypto = require('node:crypto');

const [jwksText, token] = process.argv.slice(2);
const fail = (why) => { console.log(`fail ${why}`); process.exit(0); };
const b64 = (s) => Buffer.from(s, 'base64url');

const parts = token.split('.');
if (parts.length !== 3) fail('not three parts');
const header = JSON.parse(b64(parts[0]).toString('utf8'));
const claims = JSON.parse(b64(parts[1]).toString('utf8'));
const jwk = JSON.parse(jwksText).keys.find((k) => k.kid === header.kid);
if (!jwk) fail(`no key ${header.kid}`);
if (jwk.alg !== header.alg) fail('alg mismatch');

const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
const data = Buffer.from(`${parts[0]}.${parts[1]}`);
const sig = b64(parts[2]);
let valid;
switch (header.alg) {
  case 'ES256': valid = crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig); break;
  case 'RS256': valid = crypto.verify('sha256', data, key, sig); break;
  case 'EdDSA': valid = crypto.verify(null, data, key, sig); break;
  default: fail(`unexpected alg ${header.alg}`);
}
if (!valid) fail('bad signature');
if (claims.exp <= Math.floor(Date.now() / 1000)) fail('expired');
console.log(`ok ${header.alg}`);
