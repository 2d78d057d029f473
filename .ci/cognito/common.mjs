// Shared by the Cognito SDK suites: the running service's address and pool, its REST API
// (usage, API keys), the CLI (tiers), token verification with aws-jwt-verify, and assertions.
// Nothing here prints a token, a password or a key: checks print claim names and booleans.
//
// The suites are started by .ci/cognito.sh, which sets:
//   COGNITO_BASE        http://127.0.0.1:PORT
//   COGNITO_POOL_ID     eu-west-1_AbC123xyz
//   COGNITO_CLIENT_ID   an app client without a secret
//   COGNITO_SECRET_CLIENT_ID, COGNITO_CLIENT_SECRET   an app client with one
//   CLOUDSIGMA_BINARY   the server binary (its CLI sets tiers); DATABASE_URL its database

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";

import { CognitoJwtVerifier } from "aws-jwt-verify";
import { CognitoJwtInvalidClientIdError } from "aws-jwt-verify/error";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the suites through .ci/cognito.sh)`);
  return value;
}

export const BASE = env("COGNITO_BASE").replace(/\/$/, "");
export const POOL_ID = env("COGNITO_POOL_ID");
export const REGION = POOL_ID.split("_")[0];
export const ISSUER = `https://cognito-idp.${REGION}.amazonaws.com/${POOL_ID}`;
export const CLIENT_ID = env("COGNITO_CLIENT_ID");
export const SECRET_CLIENT_ID = env("COGNITO_SECRET_CLIENT_ID");
export const CLIENT_SECRET = env("COGNITO_CLIENT_SECRET");
export const SCOPE = "aws.cognito.signin.user.admin";
export const INCORRECT = "Incorrect username or password.";

/** A fresh address per run and label, so reruns against one database do not collide. */
export function uniqueEmail(label) {
  return `ci-${label}-${randomBytes(5).toString("hex")}@example.com`;
}

/** A password that meets the service's policy; never printed. */
export function newPassword() {
  return `Ci-${randomBytes(12).toString("base64url")}-9`;
}

/** Cognito's SECRET_HASH: base64(HMAC-SHA256(secret, username + clientId)). */
export function secretHash(username, clientId = SECRET_CLIENT_ID, secret = CLIENT_SECRET) {
  return createHmac("sha256", secret).update(username + clientId).digest("base64");
}

let failures = 0;
let passes = 0;

/** Runs one named check; an exception fails it (and the suite), with the reason. */
export async function check(name, fn) {
  process.stdout.write(`  - ${name}\n`);
  try {
    const result = await fn();
    passes += 1;
    return result;
  } catch (err) {
    failures += 1;
    process.stdout.write(`    FAILED: ${describe(err)}\n`);
    throw err;
  }
}

/** The end of a suite: a closing line the CI reads, and the exit code. */
export function finish(suite) {
  console.log(`${suite}: ${passes} passed, ${failures} failed`);
  if (failures) process.exitCode = 1;
}

/** Runs a suite's main function; any escape is a failure with the reason printed. */
export function run(suite, main) {
  main()
    .then(() => finish(suite))
    .catch((err) => {
      if (!failures) {
        failures += 1;
        console.log(`  FAILED outside a check: ${describe(err)}`);
      }
      finish(suite);
    });
}

/** An error as a line that names what went wrong without echoing secrets. */
export function describe(err) {
  if (!err || typeof err !== "object") return String(err);
  const parts = [err.name, err.code && err.code !== err.name ? `code=${err.code}` : "", err.message];
  const status = err.$metadata?.httpStatusCode ?? err.statusCode;
  if (status) parts.push(`http=${status}`);
  if (err.cause) parts.push(`cause=${describe(err.cause)}`);
  return redact(parts.filter(Boolean).join(" "));
}

/** Blanks anything shaped like a JWT, an API key or a long opaque token. */
export function redact(text) {
  return String(text)
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, "<jwt>")
    .replace(/csk_live_[0-9a-f]+/g, "<api key>")
    .replace(/[A-Za-z0-9_\-+/=]{60,}/g, "<opaque>");
}

/** Awaits a promise that must reject with the named Cognito error; returns the error. */
export async function rejectsWith(promise, name, message) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${name}, but the call succeeded`);
  assert.equal(err.name, name, `expected ${name}, got ${describe(err)}`);
  if (message !== undefined) assert.equal(err.message, message);
  return err;
}

/** The claims of a JWT, decoded without verification (verify() below checks signatures). */
export function claims(jwt) {
  assert.equal(typeof jwt, "string", "a JWT was expected");
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, "a JWT has three parts");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/** One operation on the wire, as an SDK would send it, for checks of the raw answer. */
export async function wire(operation, body, headers = {}) {
  const response = await fetch(`${BASE}/`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${operation}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Asserts a raw answer is the named Cognito error in Cognito's JSON 1.1 error shape. */
export function assertWireError(answer, name, message) {
  assert.equal(answer.status, 400, `${name}: HTTP ${answer.status} ${redact(answer.text)}`);
  assert.ok(answer.json, `${name}: the body is not JSON: ${redact(answer.text)}`);
  assert.equal(answer.json.__type, name, `__type: ${redact(answer.text)}`);
  assert.equal(typeof answer.json.message, "string", "the error has a message");
  if (message !== undefined) assert.equal(answer.json.message, message);
  const header = answer.headers.get("x-amzn-errortype") ?? "";
  assert.equal(header.split(":")[0], name, `x-amzn-ErrorType: ${header}`);
}

/** A request or response body for a trace line: secrets and tokens replaced by their length. */
export function redactBody(body) {
  if (body === undefined || body === null || body === "") return "";
  // The SDK v3 hands its serialized body over as bytes.
  if (body instanceof Uint8Array) body = Buffer.from(body).toString("utf8");
  if (typeof body !== "string" && typeof body !== "object") return `<${typeof body}>`;
  let value;
  try {
    value = typeof body === "string" ? JSON.parse(body) : body;
  } catch {
    return redact(body);
  }
  const hide = /password|secret|token|srp_|signature|salt|session|key|code/i;
  const walk = (v, k) => {
    if (k && hide.test(k) && typeof v === "string") return `<${v.length} chars>`;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, walk(vv, kk)]));
    }
    return v;
  };
  return redact(JSON.stringify(walk(value)));
}

// COGNITO_TRACE=1 prints every request the SDKs make through fetch (amazon-cognito-identity-js,
// Amplify, the helpers here) and its answer, with secrets replaced by their length.
if (process.env.COGNITO_TRACE) {
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    const target = new Headers(init.headers).get("x-amz-target") ?? "";
    const response = await original(input, init);
    const text = await response.clone().text();
    console.log(
      `    trace: ${init.method ?? "GET"} ${url} ${target} ${redactBody(init.body)}` +
        ` -> ${response.status} ${response.headers.get("x-amzn-errortype") ?? ""} ${redactBody(text)}`,
    );
    return response;
  };
}

// --- the service's REST API ------------------------------------------------------------------

async function rest(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** GET /v1/usage with the token: it must be accepted; returns `data`. */
export async function usage(token) {
  const answer = await rest("GET", "/v1/usage", token);
  assert.equal(answer.status, 200, `/v1/usage answered ${answer.status}: ${redact(answer.text)}`);
  assert.equal(answer.json?.success, true, `/v1/usage: ${redact(answer.text)}`);
  assert.equal(typeof answer.json.data, "object");
  return answer.json.data;
}

/** GET /v1/usage with the token: it must be refused with 401. */
export async function usageRefused(token) {
  const answer = await rest("GET", "/v1/usage", token);
  assert.equal(answer.status, 401, `/v1/usage answered ${answer.status}, expected 401`);
  assert.equal(answer.json?.success, false, `/v1/usage: ${redact(answer.text)}`);
}

/** POST /v1/api-keys with the token: a key in the documented format. */
export async function createApiKey(token, name = "ci") {
  const answer = await rest("POST", "/v1/api-keys", token, { name });
  assert.ok(
    answer.status === 200 || answer.status === 201,
    `/v1/api-keys answered ${answer.status}: ${redact(answer.text)}`,
  );
  assert.equal(answer.json?.success, true);
  assert.match(answer.json.data.key, /^csk_live_[0-9a-f]{32}$/, "the key's format");
  // The key itself is a credential of the service: it reads the usage too.
  const data = await usage(answer.json.data.key);
  return data;
}

/** Sets a user's tier with the service's CLI (same database), then awaits the running server
 *  seeing it through the token: it follows database changes within about a second. */
export async function setTier(email, tier, token) {
  execFileSync(env("CLOUDSIGMA_BINARY"), ["users", "set-tier", email, tier], {
    env: process.env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const data = await usage(token);
    if (data.tier === tier) return;
    assert.ok(Date.now() < deadline, `the server still reports tier ${data.tier} after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// --- tokens ----------------------------------------------------------------------------------

/** A JWKS cache whose fetcher refuses: the JWKS comes only from the service, by cacheJwks, so a
 *  verifier never reaches for the real Cognito address its issuer names. */
const localOnly = {
  fetch: async (uri) => {
    throw new Error(`aws-jwt-verify tried to fetch ${uri}; the JWKS must come from cacheJwks`);
  },
};

let jwksPromise;
/** The service's JWKS from /<poolId>/.well-known/jwks.json (checked once against /.well-known). */
export function jwks() {
  jwksPromise ??= (async () => {
    const pooled = await fetch(`${BASE}/${POOL_ID}/.well-known/jwks.json`);
    assert.equal(pooled.status, 200, `/${POOL_ID}/.well-known/jwks.json answered ${pooled.status}`);
    const body = await pooled.json();
    assert.ok(Array.isArray(body.keys) && body.keys.length > 0, "the JWKS has keys");
    const root = await fetch(`${BASE}/.well-known/jwks.json`);
    assert.equal(root.status, 200);
    assert.deepEqual(await root.json(), body, "both JWKS addresses serve the same keys");
    return body;
  })();
  return jwksPromise;
}

const verifiers = new Map();
async function verifier(tokenUse, clientId) {
  const key = `${tokenUse}/${clientId}`;
  if (!verifiers.has(key)) {
    const v = CognitoJwtVerifier.create(
      { userPoolId: POOL_ID, tokenUse, clientId },
      { jwksCache: new SimpleJwksCache({ fetcher: localOnly }) },
    );
    v.cacheJwks(await jwks());
    verifiers.set(key, v);
  }
  return verifiers.get(key);
}

/**
 * Verifies an access token and an ID token of one answer with CognitoJwtVerifier and checks
 * the claims Cognito puts in them. Returns { access, id } claims.
 */
export async function verifyTokens(tokens, { clientId, sub, email, tier }) {
  // An SDK's AuthenticationResult (AccessToken, IdToken) or a session's { accessToken, idToken }.
  const accessToken = tokens.AccessToken ?? tokens.accessToken;
  const idToken = tokens.IdToken ?? tokens.idToken;
  const access = (await verifier("access", clientId)).verifySync(accessToken);
  assert.equal(access.token_use, "access");
  assert.equal(access.iss, ISSUER);
  assert.equal(access.client_id, clientId);
  assert.equal(access.scope, SCOPE);
  assert.equal(typeof access.origin_jti, "string");
  assert.equal(typeof access.jti, "string");
  assert.equal(typeof access.auth_time, "number");
  assert.ok(access.exp > access.iat, "exp after iat");
  assert.equal(access.aud, undefined, "an access token has no aud (client_id instead)");
  const result = { access };
  if (sub !== undefined) {
    assert.equal(access.sub, sub);
    assert.equal(access.username, sub, "the access token's username is the sub");
  }
  if (tier !== undefined) assert.equal(access["custom:tier"], tier);
  if (idToken !== undefined) {
    const id = (await verifier("id", clientId)).verifySync(idToken);
    assert.equal(id.token_use, "id");
    assert.equal(id.iss, ISSUER);
    assert.equal(id.aud, clientId);
    assert.equal(id.sub, access.sub);
    assert.equal(id.origin_jti, access.origin_jti, "one answer's tokens share origin_jti");
    assert.equal(id.auth_time, access.auth_time);
    assert.equal(id["cognito:username"], access.sub);
    if (email !== undefined) assert.equal(id.email, email);
    if (tier !== undefined) assert.equal(id["custom:tier"], tier);
    result.id = id;
  }
  return result;
}

/** The access token must be refused by the verifier when checked against another client. */
export async function assertOtherClientRefused(accessToken, otherClientId) {
  const v = await verifier("access", otherClientId);
  assert.throws(() => v.verifySync(accessToken), CognitoJwtInvalidClientIdError);
}

export { assert };
