// Benchmark peer: Better Auth (anonymous + jwt plugins) on Postgres, over HTTP.
//   POST /api/auth/sign-in/anonymous  Better Auth's own endpoint: new user + session
//   POST /bench/sign-in-with-jwt      the same, plus an ES256 JWT for the new session
//                                     (what a client gets from GET /api/auth/token)
// Env: DATABASE_URL (postgres URL), PORT, POOL_SIZE (pg pool max, default 16).
// Creates its schema on start with Better Auth's own migrations.
import { createServer } from "node:http";
import pg from "pg";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler, fromNodeHeaders } from "better-auth/node";
import { anonymous, jwt } from "better-auth/plugins";

const { DATABASE_URL, PORT } = process.env;
if (!DATABASE_URL || !PORT) {
  console.error("usage: DATABASE_URL=postgres://... PORT=n [POOL_SIZE=16] node server.mjs");
  process.exit(2);
}
const baseURL = `http://127.0.0.1:${PORT}`;

const options = {
  database: new pg.Pool({ connectionString: DATABASE_URL, max: Number(process.env.POOL_SIZE || 16) }),
  secret: "auth-ext-bench-better-auth-secret-not-for-production-use",
  baseURL,
  trustedOrigins: [baseURL],
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { level: "error" },
  plugins: [anonymous(), jwt({ jwks: { keyPairConfig: { alg: "ES256" } } })],
};

const { runMigrations } = await getMigrations(options);
await runMigrations();

const auth = betterAuth(options);
const authHandler = toNodeHandler(auth);

// Sign in anonymously, then ask the jwt plugin for a token with the new session's cookie.
async function signInWithJwt(req, res) {
  req.resume();
  const headers = fromNodeHeaders(req.headers);
  const signIn = await auth.api.signInAnonymous({ headers, returnHeaders: true });
  const cookie = signIn.headers.getSetCookie().map((c) => c.split(";", 1)[0]).join("; ");
  const { token: jwtToken } = await auth.api.getToken({ headers: new Headers({ cookie }) });
  const body = JSON.stringify({ token: signIn.response.token, jwt: jwtToken });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  if (req.url.startsWith("/api/auth/")) return authHandler(req, res);
  if (req.method === "POST" && req.url === "/bench/sign-in-with-jwt") {
    return signInWithJwt(req, res).catch((err) => {
      res.writeHead(err?.statusCode || 500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(err?.message || err) }));
    });
  }
  if (req.url === "/health") return res.end("ok");
  res.writeHead(404).end();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(PORT), "127.0.0.1");
