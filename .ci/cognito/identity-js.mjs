// amazon-cognito-identity-js against the service's Cognito user-pool API: sign-up, sign-in with
// its default flow (USER_SRP_AUTH, the SRP-6a exchange answered by PASSWORD_VERIFIER) and with
// USER_PASSWORD_AUTH, GetUser, refreshSession, globalSignOut, and SRP refusals.

import {
  AuthenticationDetails,
  CognitoRefreshToken,
  CognitoUser,
  CognitoUserAttribute,
  CognitoUserPool,
} from "amazon-cognito-identity-js";

import {
  BASE,
  CLIENT_ID,
  INCORRECT,
  POOL_ID,
  assert,
  assertWireError,
  check,
  claims,
  createApiKey,
  newPassword,
  rejectsWith,
  run,
  setTier,
  uniqueEmail,
  usage,
  usageRefused,
  verifyTokens,
  wire,
} from "./common.mjs";

/** The library's storage interface over a Map (it falls back to a process-wide one in Node). */
class MapStorage {
  constructor() {
    this.items = new Map();
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  removeItem(key) {
    this.items.delete(key);
  }
  clear() {
    this.items.clear();
  }
}

const pool = new CognitoUserPool({
  UserPoolId: POOL_ID,
  ClientId: CLIENT_ID,
  endpoint: `${BASE}/`,
  Storage: new MapStorage(),
});

function signUp(email, password) {
  return new Promise((resolve, reject) =>
    pool.signUp(email, password, [new CognitoUserAttribute({ Name: "email", Value: email })], null, (err, result) =>
      err ? reject(err) : resolve(result),
    ),
  );
}

/** authenticateUser with the library's default flow (SRP) unless a flow is named. */
function authenticate(username, password, flow) {
  const user = new CognitoUser({ Username: username, Pool: pool, Storage: pool.storage });
  if (flow) user.setAuthenticationFlowType(flow);
  const details = new AuthenticationDetails({ Username: username, Password: password });
  return new Promise((resolve, reject) =>
    user.authenticateUser(details, {
      onSuccess: (session) => resolve({ user, session }),
      onFailure: reject,
      newPasswordRequired: () => reject(new Error("unexpected newPasswordRequired")),
      mfaRequired: () => reject(new Error("unexpected mfaRequired")),
      totpRequired: () => reject(new Error("unexpected totpRequired")),
      customChallenge: () => reject(new Error("unexpected customChallenge")),
      mfaSetup: () => reject(new Error("unexpected mfaSetup")),
      selectMFAType: () => reject(new Error("unexpected selectMFAType")),
    }),
  );
}

function tokensOf(session) {
  return {
    accessToken: session.getAccessToken().getJwtToken(),
    idToken: session.getIdToken().getJwtToken(),
    refreshToken: session.getRefreshToken().getToken(),
  };
}

function refreshSession(user, refreshToken) {
  return new Promise((resolve, reject) =>
    user.refreshSession(new CognitoRefreshToken({ RefreshToken: refreshToken }), (err, session) =>
      err ? reject(err) : resolve(session),
    ),
  );
}

function userAttributes(user) {
  return new Promise((resolve, reject) =>
    user.getUserAttributes((err, attributes) =>
      err ? reject(err) : resolve(Object.fromEntries(attributes.map((a) => [a.getName(), a.getValue()]))),
    ),
  );
}

function globalSignOut(user) {
  return new Promise((resolve, reject) => user.globalSignOut({ onSuccess: resolve, onFailure: reject }));
}

async function main() {
  const email = uniqueEmail("identityjs");
  const password = newPassword();
  let sub;

  console.log("amazon-cognito-identity-js: sign-up");
  await check("userPool.signUp: userConfirmed, userSub", async () => {
    const result = await signUp(email, password);
    assert.equal(result.userConfirmed, true);
    assert.equal(typeof result.userSub, "string");
    assert.ok(result.userSub.length > 0 && result.userSub !== email);
    sub = result.userSub;
  });

  console.log("amazon-cognito-identity-js: authenticateUser with SRP (the default flow)");
  let srp;
  let srpClaims;
  await check("authenticateUser (USER_SRP_AUTH, PASSWORD_VERIFIER) succeeds", async () => {
    srp = await authenticate(email, password);
    assert.equal(srp.session.isValid(), true);
  });
  await check("the user's name became USER_ID_FOR_SRP: the sub", async () => {
    assert.equal(srp.user.getUsername(), sub);
  });
  await check("aws-jwt-verify accepts the SRP sign-in's tokens", async () => {
    const tokens = tokensOf(srp.session);
    srpClaims = await verifyTokens(tokens, { clientId: CLIENT_ID, sub, email, tier: "free" });
    assert.equal(srp.session.getIdToken().decodePayload().email, email);
  });
  await check("the access token reads /v1/usage", async () => {
    assert.equal((await usage(tokensOf(srp.session).accessToken)).tier, "free");
  });
  await check("getUserAttributes (GetUser): sub, email, custom:tier", async () => {
    const attributes = await userAttributes(srp.user);
    assert.equal(attributes.sub, sub);
    assert.equal(attributes.email, email);
    assert.equal(attributes["custom:tier"], "free");
    assert.ok("email_verified" in attributes, "email_verified is there");
  });
  await check("set-tier pro (CLI), then an API key with the SRP access token", async () => {
    const { accessToken } = tokensOf(srp.session);
    await setTier(email, "pro", accessToken);
    await createApiKey(accessToken, "identity-js");
  });
  await check("refreshSession: new tokens, auth_time and origin_jti kept, custom:tier pro", async () => {
    const before = tokensOf(srp.session);
    const session = await refreshSession(srp.user, before.refreshToken);
    const after = tokensOf(session);
    assert.notEqual(after.accessToken, before.accessToken, "a new access token");
    assert.notEqual(after.idToken, before.idToken, "a new ID token");
    const c = await verifyTokens(after, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    assert.equal(c.access.auth_time, srpClaims.access.auth_time);
    assert.equal(c.access.origin_jti, srpClaims.access.origin_jti);
    await usage(after.accessToken);
    await createApiKey(after.accessToken, "identity-js-refreshed");
    srp.session = session;
  });

  console.log("amazon-cognito-identity-js: USER_PASSWORD_AUTH");
  let plain;
  await check("setAuthenticationFlowType('USER_PASSWORD_AUTH'), authenticateUser", async () => {
    plain = await authenticate(email, password, "USER_PASSWORD_AUTH");
    const c = await verifyTokens(tokensOf(plain.session), { clientId: CLIENT_ID, sub, email, tier: "pro" });
    assert.notEqual(c.access.origin_jti, srpClaims.access.origin_jti, "a sign-in of its own");
    await usage(tokensOf(plain.session).accessToken);
    await createApiKey(tokensOf(plain.session).accessToken, "identity-js-password");
  });
  await check("authenticateUser with the sub as the name (SRP)", async () => {
    const bySub = await authenticate(sub, password);
    assert.equal(claims(tokensOf(bySub.session).accessToken).sub, sub);
  });

  console.log("amazon-cognito-identity-js: refusals");
  await check("a wrong password under SRP: NotAuthorizedException", async () => {
    await rejectsWith(authenticate(email, `${password}x`), "NotAuthorizedException", INCORRECT);
  });
  await check("a wrong password under USER_PASSWORD_AUTH: NotAuthorizedException", async () => {
    await rejectsWith(authenticate(email, `${password}x`, "USER_PASSWORD_AUTH"), "NotAuthorizedException", INCORRECT);
  });
  await check("an unknown user under SRP: NotAuthorizedException", async () => {
    await rejectsWith(authenticate(uniqueEmail("nobody"), password), "NotAuthorizedException", INCORRECT);
  });

  console.log("amazon-cognito-identity-js: globalSignOut");
  await check("globalSignOut: the old access token gets 401, the refresh token is refused", async () => {
    const old = tokensOf(srp.session);
    const result = await globalSignOut(srp.user);
    assert.equal(result, "SUCCESS");
    await usageRefused(old.accessToken);
    await usageRefused(tokensOf(plain.session).accessToken);
    // (refreshSession retries every error for about six seconds, so the refusal is read raw.)
    const refused = await wire("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: CLIENT_ID,
      AuthParameters: { REFRESH_TOKEN: old.refreshToken },
    });
    assertWireError(refused, "NotAuthorizedException");
  });
  await check("SRP sign-in works again after globalSignOut", async () => {
    const again = await authenticate(email, password);
    await usage(tokensOf(again.session).accessToken);
  });
}

run("amazon-cognito-identity-js", main);
