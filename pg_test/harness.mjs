// What the Node tiers share (pg_test/postgrest, pg_test/gateway): named checks that print
// one line each and a closing tally, and SQL as the database owner, through psql (what an
// operator, or the mail/SMS sender, does).
import { execFileSync } from 'node:child_process';

export const tally = { passed: 0, failed: 0 };

// Compares as JSON; prints `ok   name` or `FAIL name: expected ..., got ...`.
export function check(name, expected, actual) {
  const e = JSON.stringify(expected);
  const a = JSON.stringify(actual);
  if (e === a) {
    tally.passed++;
    console.log(`ok   ${name}`);
  } else {
    tally.failed++;
    console.log(`FAIL ${name}: expected ${e}, got ${a}`);
  }
  return e === a;
}

// An unexpected exception counts as one failure.
export function crashed(error) {
  tally.failed++;
  console.log(`FAIL unexpected: ${error?.stack ?? error}`);
}

// "NAME: N passed, N failed", and the exit status.
export function finish(label) {
  console.log(`${label}: ${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed ? 1 : 0);
}

export function sql(query, db = process.env.PGDATABASE) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', query], {
    encoding: 'utf8',
    env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
  }).trim();
}

export function sqlFile(path, db = process.env.PGDATABASE) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', path], { encoding: 'utf8' });
}

// A SQL string literal.
export const literal = (text) => `'${String(text).replaceAll("'", "''")}'`;
