// Amplify JS v6 (aws-amplify) in Node against the service's Cognito user-pool API: signUp,
// signIn (its default flow: USER_SRP_AUTH), getCurrentUser, fetchUserAttributes,
// fetchAuthSession with forceRefresh (GetTokensFromRefreshToken), updatePassword, and both
// kinds of signOut. Amplify's signOut swallows the server's answer, so each sign-out is
// checked by the service refusing the old tokens.

import { Amplify } from "aws-amplify";
import {
  fetchAuthSession,
  fetchUserAttributes,
  getCurrentUser,
  signIn,
  signOut,
  signUp,
  updatePassword,
} from "aws-amplify/auth";
import { cognitoUserPoolsTokenProvider } from "aws-amplify/auth/cognito";

import {
  BASE,
  CLIENT_ID,
  INCORRECT,
  POOL_ID,
  assert,
  assertWireError,
  check,
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

/** Amplify's key-value storage over a Map; in Node Amplify would use an in-memory one of its
 *  own, this one lets the suite see that a refresh rotated the stored refresh token. */
class MapStorage {
  constructor() {
    this.items = new Map();
  }
  async setItem(key, value) {
    this.items.set(key, value);
  }
  async getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  async removeItem(key) {
    this.items.delete(key);
  }
  async clear() {
    this.items.clear();
  }
  refreshToken() {
    const keys = [...this.items.keys()].filter((k) => k.endsWith(".refreshToken"));
    assert.ok(keys.length <= 1, "one stored refresh token");
    return keys.length ? this.items.get(keys[0]) : null;
  }
}

const storage = new MapStorage();
Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: POOL_ID,
      userPoolClientId: CLIENT_ID,
      userPoolEndpoint: BASE,
    },
  },
});
cognitoUserPoolsTokenProvider.setKeyValueStorage(storage);

async function tokens(forceRefresh = false) {
  const session = await fetchAuthSession({ forceRefresh });
  assert.ok(session.tokens?.accessToken && session.tokens.idToken, "the session has tokens");
  return {
    accessToken: session.tokens.accessToken.toString(),
    idToken: session.tokens.idToken.toString(),
  };
}

/** The refresh token as Cognito holds it, refused after a sign-out (read on the wire, since
 *  Amplify does not hand it out). */
async function assertRefreshRefused(refreshToken) {
  const answer = await wire("GetTokensFromRefreshToken", { ClientId: CLIENT_ID, RefreshToken: refreshToken });
  assertWireError(answer, "NotAuthorizedException");
}

async function main() {
  const email = uniqueEmail("amplify");
  let password = newPassword();
  let sub;

  console.log("Amplify v6: signUp");
  await check("signUp: isSignUpComplete, nextStep DONE, userId", async () => {
    const result = await signUp({ username: email, password, options: { userAttributes: { email } } });
    assert.equal(result.isSignUpComplete, true);
    assert.equal(result.nextStep.signUpStep, "DONE");
    assert.equal(typeof result.userId, "string");
    assert.ok(result.userId.length > 0 && result.userId !== email);
    sub = result.userId;
  });

  console.log("Amplify v6: signIn (SRP)");
  let first;
  let firstClaims;
  await check("signIn with the email: isSignedIn, nextStep DONE", async () => {
    const result = await signIn({ username: email, password });
    assert.equal(result.isSignedIn, true);
    assert.equal(result.nextStep.signInStep, "DONE");
  });
  await check("getCurrentUser: username and userId are the sub, loginId the email", async () => {
    const user = await getCurrentUser();
    assert.equal(user.userId, sub);
    assert.equal(user.username, sub);
    assert.equal(user.signInDetails?.loginId, email);
    assert.equal(user.signInDetails?.authFlowType, "USER_SRP_AUTH");
  });
  await check("fetchAuthSession: aws-jwt-verify accepts the tokens", async () => {
    first = await tokens();
    firstClaims = await verifyTokens(first, { clientId: CLIENT_ID, sub, email, tier: "free" });
    assert.equal(typeof storage.refreshToken(), "string", "a refresh token is stored");
  });
  await check("fetchUserAttributes (GetUser): sub, email, custom:tier", async () => {
    const attributes = await fetchUserAttributes();
    assert.equal(attributes.sub, sub);
    assert.equal(attributes.email, email);
    assert.equal(attributes["custom:tier"], "free");
  });
  await check("the access token reads /v1/usage", async () => {
    assert.equal((await usage(first.accessToken)).tier, "free");
  });
  await check("set-tier pro (CLI), then an API key", async () => {
    await setTier(email, "pro", first.accessToken);
    await createApiKey(first.accessToken, "amplify");
  });

  console.log("Amplify v6: fetchAuthSession({ forceRefresh: true })");
  let refreshed;
  await check("new tokens, the same auth_time, custom:tier pro, a rotated refresh token", async () => {
    const storedBefore = storage.refreshToken();
    refreshed = await tokens(true);
    assert.notEqual(refreshed.accessToken, first.accessToken, "a new access token");
    assert.notEqual(refreshed.idToken, first.idToken, "a new ID token");
    const c = await verifyTokens(refreshed, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    assert.equal(c.access.auth_time, firstClaims.access.auth_time, "auth_time unchanged");
    const storedAfter = storage.refreshToken();
    assert.equal(typeof storedAfter, "string");
    assert.notEqual(storedAfter, storedBefore, "GetTokensFromRefreshToken rotated the refresh token");
    await usage(refreshed.accessToken);
    await createApiKey(refreshed.accessToken, "amplify-refreshed");
  });
  await check("a second forceRefresh uses the rotated token and works", async () => {
    const again = await tokens(true);
    assert.notEqual(again.accessToken, refreshed.accessToken);
    await verifyTokens(again, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    refreshed = again;
  });

  console.log("Amplify v6: updatePassword (ChangePassword)");
  await check("updatePassword, then the new password signs in and the old one is refused", async () => {
    const next = newPassword();
    await updatePassword({ oldPassword: password, newPassword: next });
    const stored = storage.refreshToken();
    await signOut();
    await rejectsWith(signIn({ username: email, password }), "NotAuthorizedException", INCORRECT);
    password = next;
    const result = await signIn({ username: email, password });
    assert.equal(result.isSignedIn, true);
    // The plain signOut before revoked that sign-in's refresh token (RevokeToken).
    await assertRefreshRefused(stored);
    await usageRefused(refreshed.accessToken);
    refreshed = await tokens();
    await usage(refreshed.accessToken);
  });

  console.log("Amplify v6: signOut({ global: true })");
  await check("the old access token gets 401 from /v1/usage, the refresh token is refused", async () => {
    const stored = storage.refreshToken();
    await signOut({ global: true });
    await rejectsWith(getCurrentUser(), "UserUnAuthenticatedException");
    assert.equal(storage.refreshToken(), null, "the tokens are cleared locally");
    await usageRefused(refreshed.accessToken);
    await assertRefreshRefused(stored);
  });

  console.log("Amplify v6: refusals");
  await check("signIn with a wrong password: NotAuthorizedException", async () => {
    await rejectsWith(signIn({ username: email, password: `${password}x` }), "NotAuthorizedException", INCORRECT);
  });
  await check("signIn with USER_PASSWORD_AUTH works too", async () => {
    const result = await signIn({ username: email, password, options: { authFlowType: "USER_PASSWORD_AUTH" } });
    assert.equal(result.isSignedIn, true);
    const t = await tokens();
    await verifyTokens(t, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    await usage(t.accessToken);
    await signOut({ global: true });
    await usageRefused(t.accessToken);
  });
}

run("amplify", main);
