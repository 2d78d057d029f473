// The AWS SDK for JavaScript v3 (@aws-sdk/client-cognito-identity-provider) against the
// service's Cognito user-pool API: sign-up, password sign-in, GetUser, both refresh operations,
// RevokeToken, GlobalSignOut, the error shapes, and an app client with a secret.

import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  GetTokensFromRefreshTokenCommand,
  GetUserCommand,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  RevokeTokenCommand,
  SignUpCommand,
} from "@aws-sdk/client-cognito-identity-provider";

import {
  BASE,
  CLIENT_ID,
  CLIENT_SECRET,
  INCORRECT,
  REGION,
  SECRET_CLIENT_ID,
  assert,
  assertOtherClientRefused,
  assertWireError,
  check,
  claims,
  createApiKey,
  newPassword,
  redactBody,
  rejectsWith,
  run,
  secretHash,
  setTier,
  uniqueEmail,
  usage,
  usageRefused,
  verifyTokens,
  wire,
} from "./common.mjs";

const client = new CognitoIdentityProviderClient({
  region: REGION,
  endpoint: BASE,
  // The user-pool operations are unauthenticated (the SDK's model says noAuth); static dummy
  // credentials keep the SDK from looking for real ones anywhere.
  credentials: { accessKeyId: "AKIDCI", secretAccessKey: "ci-unused" },
  // One attempt: a 5xx must show as a failure, not be retried away.
  maxAttempts: 1,
});

// Every request as sent: unsigned, JSON 1.1, the Cognito target; traced when asked.
const sent = [];
client.middlewareStack.add(
  (next, context) => async (args) => {
    const headers = Object.fromEntries(
      Object.entries(args.request.headers).map(([k, v]) => [k.toLowerCase(), v]),
    );
    sent.push({ operation: context.commandName, headers });
    let result;
    try {
      result = await next(args);
      return result;
    } finally {
      if (process.env.COGNITO_TRACE) {
        const status = result?.response?.statusCode ?? "error";
        console.log(`    trace: ${headers["x-amz-target"]} ${redactBody(args.request.body)} -> ${status}`);
      }
    }
  },
  { step: "deserialize", priority: "low", name: "ciRecordRequest" },
);

const send = (command) => client.send(command);

async function signIn(username, password, clientId = CLIENT_ID, extra = {}) {
  const answer = await send(
    new InitiateAuthCommand({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password, ...extra },
    }),
  );
  assert.equal(answer.ChallengeName, undefined, "no challenge for a confirmed user");
  const result = answer.AuthenticationResult;
  assert.ok(result, "an AuthenticationResult");
  assert.equal(result.TokenType, "Bearer");
  assert.ok(Number.isInteger(result.ExpiresIn) && result.ExpiresIn > 0, "ExpiresIn");
  return result;
}

async function main() {
  const email = uniqueEmail("sdkv3");
  const password = newPassword();
  let sub;

  console.log("AWS SDK v3: sign-up");
  await check("SignUp answers UserConfirmed and a UserSub", async () => {
    const answer = await send(
      new SignUpCommand({
        ClientId: CLIENT_ID,
        Username: email,
        Password: password,
        UserAttributes: [{ Name: "email", Value: email }],
      }),
    );
    assert.equal(answer.UserConfirmed, true);
    assert.equal(typeof answer.UserSub, "string");
    assert.ok(answer.UserSub.length > 0 && answer.UserSub !== email, "the sub is not the email");
    sub = answer.UserSub;
  });
  await check("the request was unsigned JSON 1.1 with the Cognito target", async () => {
    const last = sent.at(-1);
    assert.equal(last.operation, "SignUpCommand");
    assert.equal(last.headers["x-amz-target"], "AWSCognitoIdentityProviderService.SignUp");
    assert.equal(last.headers["content-type"], "application/x-amz-json-1.1");
    assert.equal(last.headers.authorization, undefined, "no SigV4 Authorization header");
  });
  await check("ConfirmSignUp of a confirmed user is a no-op", async () => {
    const answer = await send(
      new ConfirmSignUpCommand({ ClientId: CLIENT_ID, Username: email, ConfirmationCode: "123456" }),
    );
    assert.equal(answer.$metadata.httpStatusCode, 200);
  });
  await check("a second SignUp of the address: UsernameExistsException", async () => {
    const err = await rejectsWith(
      send(new SignUpCommand({ ClientId: CLIENT_ID, Username: email, Password: password })),
      "UsernameExistsException",
    );
    assert.equal(err.$metadata.httpStatusCode, 400);
  });
  await check("a 7-character password: InvalidPasswordException", async () => {
    await rejectsWith(
      send(new SignUpCommand({ ClientId: CLIENT_ID, Username: uniqueEmail("short"), Password: "Ab1-xyz" })),
      "InvalidPasswordException",
    );
  });

  console.log("AWS SDK v3: USER_PASSWORD_AUTH, tokens, GetUser");
  let first;
  let firstClaims;
  await check("InitiateAuth USER_PASSWORD_AUTH with the email", async () => {
    first = await signIn(email, password);
    assert.equal(typeof first.RefreshToken, "string");
  });
  await check("aws-jwt-verify accepts the access and ID tokens (client, scope, tier)", async () => {
    firstClaims = await verifyTokens(first, { clientId: CLIENT_ID, sub, email, tier: "free" });
    await assertOtherClientRefused(first.AccessToken, SECRET_CLIENT_ID);
  });
  await check("InitiateAuth with the sub as USERNAME signs in the same user", async () => {
    const bySub = await signIn(sub, password);
    assert.equal(claims(bySub.AccessToken).sub, sub);
  });
  await check("GetUser: Username is the sub; sub, email, email_verified, custom:tier", async () => {
    const user = await send(new GetUserCommand({ AccessToken: first.AccessToken }));
    assert.equal(user.Username, sub);
    const attributes = Object.fromEntries(user.UserAttributes.map((a) => [a.Name, a.Value]));
    assert.equal(attributes.sub, sub);
    assert.equal(attributes.email, email);
    assert.ok(["true", "false"].includes(attributes.email_verified), "email_verified is a boolean string");
    assert.equal(attributes["custom:tier"], "free");
    const known = ["sub", "email", "email_verified", "custom:tier", "custom:teamId"];
    for (const name of Object.keys(attributes)) assert.ok(known.includes(name), `unexpected attribute ${name}`);
  });
  await check("the access token reads /v1/usage (tier free)", async () => {
    assert.equal((await usage(first.AccessToken)).tier, "free");
  });

  console.log("AWS SDK v3: errors");
  await check("a wrong password: NotAuthorizedException, 'Incorrect username or password.'", async () => {
    const err = await rejectsWith(signIn(email, `${password}x`), "NotAuthorizedException", INCORRECT);
    assert.equal(err.$metadata.httpStatusCode, 400);
  });
  await check("an unknown user: the same NotAuthorizedException", async () => {
    await rejectsWith(signIn(uniqueEmail("nobody"), password), "NotAuthorizedException", INCORRECT);
  });
  await check("on the wire: HTTP 400, {__type, message}, x-amzn-ErrorType", async () => {
    const answer = await wire("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: CLIENT_ID,
      AuthParameters: { USERNAME: email, PASSWORD: `${password}x` },
    });
    assertWireError(answer, "NotAuthorizedException", INCORRECT);
  });

  console.log("AWS SDK v3: refresh");
  let refreshed;
  await check("REFRESH_TOKEN_AUTH: new tokens, no RefreshToken, same auth_time and origin_jti", async () => {
    const answer = await send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: CLIENT_ID,
        AuthParameters: { REFRESH_TOKEN: first.RefreshToken },
      }),
    );
    refreshed = answer.AuthenticationResult;
    assert.ok(refreshed?.AccessToken && refreshed.IdToken, "access and ID tokens");
    assert.equal(refreshed.RefreshToken, undefined, "REFRESH_TOKEN_AUTH returns no refresh token");
    assert.notEqual(refreshed.AccessToken, first.AccessToken, "the access token is new");
    const c = await verifyTokens(refreshed, { clientId: CLIENT_ID, sub, email });
    assert.equal(c.access.auth_time, firstClaims.access.auth_time);
    assert.equal(c.access.origin_jti, firstClaims.access.origin_jti);
    assert.notEqual(c.access.jti, firstClaims.access.jti);
  });
  await check("REFRESH_TOKEN (the older name of the flow) works too", async () => {
    const answer = await send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN",
        ClientId: CLIENT_ID,
        AuthParameters: { REFRESH_TOKEN: first.RefreshToken },
      }),
    );
    assert.ok(answer.AuthenticationResult?.AccessToken);
    assert.equal(answer.AuthenticationResult.RefreshToken, undefined);
  });

  console.log("AWS SDK v3: the tier, then an API key");
  await check("set-tier pro (CLI): the server sees it, an API key is created", async () => {
    await setTier(email, "pro", refreshed.AccessToken);
    await createApiKey(refreshed.AccessToken, "sdk-v3");
  });

  let rotated;
  await check("GetTokensFromRefreshToken rotates: a new refresh token, custom:tier now pro", async () => {
    const answer = await send(
      new GetTokensFromRefreshTokenCommand({ ClientId: CLIENT_ID, RefreshToken: first.RefreshToken }),
    );
    rotated = answer.AuthenticationResult;
    assert.equal(typeof rotated?.RefreshToken, "string", "a new refresh token");
    assert.notEqual(rotated.RefreshToken, first.RefreshToken);
    const c = await verifyTokens(rotated, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    assert.equal(c.access.auth_time, firstClaims.access.auth_time, "auth_time unchanged");
    assert.equal((await usage(rotated.AccessToken)).tier, "pro");
  });
  await check("within the rotation grace the old refresh token still answers", async () => {
    const answer = await send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: CLIENT_ID,
        AuthParameters: { REFRESH_TOKEN: first.RefreshToken },
      }),
    );
    assert.ok(answer.AuthenticationResult?.AccessToken);
  });
  await check("the new refresh token refreshes (and rotates again)", async () => {
    const answer = await send(
      new GetTokensFromRefreshTokenCommand({ ClientId: CLIENT_ID, RefreshToken: rotated.RefreshToken }),
    );
    const next = answer.AuthenticationResult;
    assert.equal(typeof next?.RefreshToken, "string");
    assert.notEqual(next.RefreshToken, rotated.RefreshToken);
    await verifyTokens(next, { clientId: CLIENT_ID, sub, email, tier: "pro" });
    rotated = next;
  });

  console.log("AWS SDK v3: RevokeToken");
  await check("RevokeToken ends that sign-in: its refresh and access tokens are refused", async () => {
    const other = await signIn(email, password);
    await usage(other.AccessToken);
    const answer = await send(new RevokeTokenCommand({ ClientId: CLIENT_ID, Token: other.RefreshToken }));
    assert.equal(answer.$metadata.httpStatusCode, 200);
    await rejectsWith(
      send(
        new InitiateAuthCommand({
          AuthFlow: "REFRESH_TOKEN_AUTH",
          ClientId: CLIENT_ID,
          AuthParameters: { REFRESH_TOKEN: other.RefreshToken },
        }),
      ),
      "NotAuthorizedException",
    );
    await usageRefused(other.AccessToken);
    // The first sign-in is a different session and lives on.
    await usage(rotated.AccessToken);
  });

  console.log("AWS SDK v3: an app client with a secret");
  await check("USER_PASSWORD_AUTH with SECRET_HASH(email): tokens for that client", async () => {
    const withSecret = await signIn(email, password, SECRET_CLIENT_ID, {
      SECRET_HASH: secretHash(email),
    });
    const c = await verifyTokens(withSecret, { clientId: SECRET_CLIENT_ID, sub, email, tier: "pro" });
    assert.equal(c.id.aud, SECRET_CLIENT_ID);
    await usage(withSecret.AccessToken);
    await createApiKey(withSecret.AccessToken, "sdk-v3-secret");

    const byRefresh = await send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: SECRET_CLIENT_ID,
        // For a refresh, SECRET_HASH is computed over the user's Cognito username: the sub.
        AuthParameters: { REFRESH_TOKEN: withSecret.RefreshToken, SECRET_HASH: secretHash(sub) },
      }),
    );
    await verifyTokens(byRefresh.AuthenticationResult, { clientId: SECRET_CLIENT_ID, sub });

    const byRotation = await send(
      new GetTokensFromRefreshTokenCommand({
        ClientId: SECRET_CLIENT_ID,
        ClientSecret: CLIENT_SECRET,
        RefreshToken: withSecret.RefreshToken,
      }),
    );
    assert.equal(typeof byRotation.AuthenticationResult?.RefreshToken, "string");
    await verifyTokens(byRotation.AuthenticationResult, { clientId: SECRET_CLIENT_ID, sub });
  });
  await check("the secret client without SECRET_HASH: NotAuthorizedException", async () => {
    await rejectsWith(signIn(email, password, SECRET_CLIENT_ID), "NotAuthorizedException");
  });
  await check("the secret client with a wrong SECRET_HASH: NotAuthorizedException", async () => {
    await rejectsWith(
      signIn(email, password, SECRET_CLIENT_ID, { SECRET_HASH: secretHash(email, SECRET_CLIENT_ID, "wrong") }),
      "NotAuthorizedException",
    );
  });
  await check("a refresh token of one client is refused by the other", async () => {
    await rejectsWith(
      send(
        new InitiateAuthCommand({
          AuthFlow: "REFRESH_TOKEN_AUTH",
          ClientId: SECRET_CLIENT_ID,
          AuthParameters: { REFRESH_TOKEN: rotated.RefreshToken, SECRET_HASH: secretHash(sub) },
        }),
      ),
      "NotAuthorizedException",
    );
  });

  console.log("AWS SDK v3: GlobalSignOut");
  await check("GlobalSignOut, then GetUser with the old access token: NotAuthorizedException", async () => {
    const answer = await send(new GlobalSignOutCommand({ AccessToken: rotated.AccessToken }));
    assert.equal(answer.$metadata.httpStatusCode, 200);
    await rejectsWith(send(new GetUserCommand({ AccessToken: rotated.AccessToken })), "NotAuthorizedException");
  });
  await check("after GlobalSignOut: /v1/usage answers 401 and the refresh token is refused", async () => {
    await usageRefused(rotated.AccessToken);
    await rejectsWith(
      send(new GetTokensFromRefreshTokenCommand({ ClientId: CLIENT_ID, RefreshToken: rotated.RefreshToken })),
      "NotAuthorizedException",
    );
  });
  await check("a new sign-in after GlobalSignOut works", async () => {
    const again = await signIn(email, password);
    await usage(again.AccessToken);
  });
}

run("aws-sdk-v3", main);
