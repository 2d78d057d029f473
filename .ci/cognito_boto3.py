"""boto3's cognito-idp client against the service's Cognito user-pool API.

Sign-up, USER_PASSWORD_AUTH, GetUser, REFRESH_TOKEN_AUTH, GetTokensFromRefreshToken (rotation),
ChangePassword, GlobalSignOut, the refusals, and an app client with a secret (SECRET_HASH).
Every token is also used as a Bearer token on the service's REST API. Nothing printed here
shows a token, a password or a key.

Started by .ci/cognito.sh, which sets COGNITO_BASE, COGNITO_POOL_ID, COGNITO_CLIENT_ID,
COGNITO_SECRET_CLIENT_ID, COGNITO_CLIENT_SECRET, CLOUDSIGMA_BINARY and DATABASE_URL.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

import boto3
import botocore
from botocore import UNSIGNED
from botocore.config import Config

BASE = os.environ["COGNITO_BASE"].rstrip("/")
POOL_ID = os.environ["COGNITO_POOL_ID"]
REGION = POOL_ID.split("_")[0]
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
CLIENT_ID = os.environ["COGNITO_CLIENT_ID"]
SECRET_CLIENT_ID = os.environ["COGNITO_SECRET_CLIENT_ID"]
CLIENT_SECRET = os.environ["COGNITO_CLIENT_SECRET"]
BINARY = os.environ["CLOUDSIGMA_BINARY"]
INCORRECT = "Incorrect username or password."

client = boto3.client(
    "cognito-idp",
    region_name=REGION,
    endpoint_url=BASE,
    config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
)

if not hasattr(client, "get_tokens_from_refresh_token"):
    print(
        f"botocore {botocore.__version__} does not know GetTokensFromRefreshToken; "
        "it needs botocore >= 1.38.0 (pip install 'boto3>=1.38')",
        flush=True,
    )
    sys.exit(1)

sent = []


def record(request, **_):
    sent.append({k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})


client.meta.events.register("before-send.cognito-idp.*", record)

passes = 0
failures = 0


def check(name):
    """Decorator: runs the function at once as one named check."""

    def run(fn):
        global passes, failures
        print(f"  - {name}", flush=True)
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - every failure is reported, then re-raised
            failures += 1
            print(f"    FAILED: {describe(err)}", flush=True)
            raise
        passes += 1
        return result

    return run


def redact(text):
    text = re.sub(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", "<jwt>", str(text))
    text = re.sub(r"csk_live_[0-9a-f]+", "<api key>", text)
    return re.sub(r"[A-Za-z0-9_\-+/=]{60,}", "<opaque>", text)


def describe(err):
    if isinstance(err, botocore.exceptions.ClientError):
        e = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return redact(f"{e.get('Code')}: {e.get('Message')} (http {status})")
    if isinstance(err, AssertionError):
        return redact(f"assertion failed: {err}\n{''.join(traceback.format_tb(err.__traceback__)[-1:])}")
    return redact(f"{type(err).__name__}: {err}")


def raises(exception_class, fn, message=None):
    """fn() must raise exception_class (a client.exceptions member); returns the error."""
    try:
        fn()
    except exception_class as err:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400, err.response
        if message is not None:
            assert err.response["Error"]["Message"] == message, err.response["Error"]
        return err
    except botocore.exceptions.ClientError as err:
        raise AssertionError(f"expected {exception_class.__name__}, got {describe(err)}") from err
    raise AssertionError(f"expected {exception_class.__name__}, but the call succeeded")


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def secret_hash(username, client_id=SECRET_CLIENT_ID, secret=CLIENT_SECRET):
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def rest(method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


def usage(token):
    status, body = rest("GET", "/v1/usage", token)
    assert status == 200, f"/v1/usage answered {status}: {redact(body)}"
    assert body["success"] is True
    return body["data"]


def usage_refused(token):
    status, body = rest("GET", "/v1/usage", token)
    assert status == 401, f"/v1/usage answered {status}, expected 401: {redact(body)}"
    assert body["success"] is False


def create_api_key(token, name):
    status, body = rest("POST", "/v1/api-keys", token, {"name": name})
    assert status in (200, 201), f"/v1/api-keys answered {status}: {redact(body)}"
    key = body["data"]["key"]
    assert re.fullmatch(r"csk_live_[0-9a-f]{32}", key), "the key's format"
    usage(key)  # the key itself reads the usage


def set_tier(email, tier, token):
    """The CLI changes the tier in the database; await the running server seeing it."""
    subprocess.run([BINARY, "users", "set-tier", email, tier], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while usage(token)["tier"] != tier:
        assert time.monotonic() < deadline, f"the server does not report tier {tier} after 10 s"
        time.sleep(0.1)


def check_tokens(result, client_id, sub, email, tier=None):
    """Claims of one AuthenticationResult as Cognito lays them out (aws-jwt-verify checks the
    signatures in the Node suites). Returns the access token's claims."""
    access, id_ = claims(result["AccessToken"]), claims(result["IdToken"])
    assert access["token_use"] == "access" and id_["token_use"] == "id"
    assert access["iss"] == ISSUER and id_["iss"] == ISSUER, access["iss"]
    assert access["client_id"] == client_id and id_["aud"] == client_id
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert access["sub"] == sub and id_["sub"] == sub and access["username"] == sub
    assert id_["email"] == email
    assert access["origin_jti"] == id_["origin_jti"], "one answer's tokens share origin_jti"
    assert access["auth_time"] == id_["auth_time"]
    if tier is not None:
        assert id_["custom:tier"] == tier and access["custom:tier"] == tier, id_.get("custom:tier")
    return access


def password_auth(username, password, client_id=CLIENT_ID, **extra):
    answer = client.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password, **extra},
    )
    assert "ChallengeName" not in answer, answer.get("ChallengeName")
    result = answer["AuthenticationResult"]
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] > 0
    return result


def refresh_auth(refresh_token, client_id=CLIENT_ID, **extra):
    return client.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId=client_id,
        AuthParameters={"REFRESH_TOKEN": refresh_token, **extra},
    )["AuthenticationResult"]


def main():
    errors = client.exceptions
    email = f"ci-boto3-{secrets.token_hex(5)}@example.com"
    password = f"Ci-{secrets.token_urlsafe(12)}-9"
    state = {}

    print(f"boto3 {boto3.__version__} / botocore {botocore.__version__}: sign-up", flush=True)

    @check("sign_up answers UserConfirmed and a UserSub")
    def _():
        answer = client.sign_up(
            ClientId=CLIENT_ID, Username=email, Password=password, UserAttributes=[{"Name": "email", "Value": email}]
        )
        assert answer["UserConfirmed"] is True
        assert answer["UserSub"] and answer["UserSub"] != email
        state["sub"] = answer["UserSub"]

    sub = state["sub"]

    @check("the request was unsigned JSON 1.1 with the Cognito target")
    def _():
        headers = sent[-1]
        assert headers["x-amz-target"] == "AWSCognitoIdentityProviderService.SignUp"
        assert headers["content-type"] == "application/x-amz-json-1.1"
        assert "authorization" not in headers

    @check("confirm_sign_up of a confirmed user is a no-op")
    def _():
        answer = client.confirm_sign_up(ClientId=CLIENT_ID, Username=email, ConfirmationCode="123456")
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200

    @check("a second sign_up: UsernameExistsException")
    def _():
        raises(errors.UsernameExistsException, lambda: client.sign_up(ClientId=CLIENT_ID, Username=email, Password=password))

    @check("a 7-character password: InvalidPasswordException")
    def _():
        raises(
            errors.InvalidPasswordException,
            lambda: client.sign_up(ClientId=CLIENT_ID, Username=f"ci-short-{secrets.token_hex(4)}@example.com", Password="Ab1-xyz"),
        )

    print("boto3: USER_PASSWORD_AUTH, GetUser", flush=True)

    @check("initiate_auth USER_PASSWORD_AUTH: tokens with Cognito's claims")
    def _():
        state["first"] = password_auth(email, password)
        assert state["first"]["RefreshToken"]
        state["first_claims"] = check_tokens(state["first"], CLIENT_ID, sub, email, "free")

    first, first_claims = state["first"], state["first_claims"]

    @check("get_user: Username is the sub; sub, email, email_verified, custom:tier")
    def _():
        user = client.get_user(AccessToken=first["AccessToken"])
        assert user["Username"] == sub
        attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        assert attributes["sub"] == sub and attributes["email"] == email
        assert attributes["email_verified"] in ("true", "false")
        assert attributes["custom:tier"] == "free"
        known = {"sub", "email", "email_verified", "custom:tier", "custom:teamId"}
        assert set(attributes) <= known, set(attributes) - known

    @check("the access token reads /v1/usage")
    def _():
        assert usage(first["AccessToken"])["tier"] == "free"

    @check("a wrong password: NotAuthorizedException 'Incorrect username or password.'")
    def _():
        raises(errors.NotAuthorizedException, lambda: password_auth(email, password + "x"), INCORRECT)

    @check("an unknown user: the same NotAuthorizedException")
    def _():
        raises(errors.NotAuthorizedException, lambda: password_auth("ci-nobody@example.com", password), INCORRECT)

    print("boto3: refresh", flush=True)

    @check("REFRESH_TOKEN_AUTH: new tokens, no RefreshToken, same auth_time and origin_jti")
    def _():
        result = refresh_auth(first["RefreshToken"])
        assert "RefreshToken" not in result
        assert result["AccessToken"] != first["AccessToken"]
        access = check_tokens(result, CLIENT_ID, sub, email)
        assert access["auth_time"] == first_claims["auth_time"]
        assert access["origin_jti"] == first_claims["origin_jti"]
        state["refreshed"] = result

    @check("set-tier pro (CLI): the server sees it, an API key is created")
    def _():
        set_tier(email, "pro", state["refreshed"]["AccessToken"])
        create_api_key(state["refreshed"]["AccessToken"], "boto3")

    @check("get_tokens_from_refresh_token rotates: a new refresh token, custom:tier pro")
    def _():
        result = client.get_tokens_from_refresh_token(ClientId=CLIENT_ID, RefreshToken=first["RefreshToken"])[
            "AuthenticationResult"
        ]
        assert result["RefreshToken"] and result["RefreshToken"] != first["RefreshToken"]
        access = check_tokens(result, CLIENT_ID, sub, email, "pro")
        assert access["auth_time"] == first_claims["auth_time"]
        usage(result["AccessToken"])
        create_api_key(result["AccessToken"], "boto3-rotated")
        state["rotated"] = result

    @check("within the rotation grace the old refresh token still answers")
    def _():
        assert refresh_auth(first["RefreshToken"])["AccessToken"]

    @check("the new refresh token refreshes (and rotates again)")
    def _():
        result = client.get_tokens_from_refresh_token(
            ClientId=CLIENT_ID, RefreshToken=state["rotated"]["RefreshToken"]
        )["AuthenticationResult"]
        assert result["RefreshToken"] and result["RefreshToken"] != state["rotated"]["RefreshToken"]
        check_tokens(result, CLIENT_ID, sub, email, "pro")
        state["rotated"] = result

    print("boto3: an app client with a secret", flush=True)

    @check("USER_PASSWORD_AUTH with SECRET_HASH(email); refresh with SECRET_HASH(sub)")
    def _():
        result = password_auth(email, password, SECRET_CLIENT_ID, SECRET_HASH=secret_hash(email))
        check_tokens(result, SECRET_CLIENT_ID, sub, email, "pro")
        usage(result["AccessToken"])
        # For a refresh, the hash is over the user's Cognito username: the sub.
        refreshed = refresh_auth(result["RefreshToken"], SECRET_CLIENT_ID, SECRET_HASH=secret_hash(sub))
        check_tokens(refreshed, SECRET_CLIENT_ID, sub, email, "pro")
        rotated = client.get_tokens_from_refresh_token(
            ClientId=SECRET_CLIENT_ID, ClientSecret=CLIENT_SECRET, RefreshToken=result["RefreshToken"]
        )["AuthenticationResult"]
        assert rotated["RefreshToken"] != result["RefreshToken"]
        check_tokens(rotated, SECRET_CLIENT_ID, sub, email, "pro")

    @check("the secret client without SECRET_HASH, or with a wrong one: NotAuthorizedException")
    def _():
        raises(errors.NotAuthorizedException, lambda: password_auth(email, password, SECRET_CLIENT_ID))
        wrong = secret_hash(email, SECRET_CLIENT_ID, "wrong-secret")
        raises(errors.NotAuthorizedException, lambda: password_auth(email, password, SECRET_CLIENT_ID, SECRET_HASH=wrong))

    print("boto3: ChangePassword", flush=True)

    @check("change_password: the new password signs in, the old one is refused")
    def _():
        nonlocal password
        new = f"Ci-{secrets.token_urlsafe(12)}-9"
        answer = client.change_password(
            PreviousPassword=password, ProposedPassword=new, AccessToken=state["rotated"]["AccessToken"]
        )
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        raises(errors.NotAuthorizedException, lambda: password_auth(email, password), INCORRECT)
        password = new
        state["after_change"] = password_auth(email, password)
        usage(state["after_change"]["AccessToken"])

    @check("change_password with a wrong previous password: NotAuthorizedException")
    def _():
        raises(
            errors.NotAuthorizedException,
            lambda: client.change_password(
                PreviousPassword=password + "x",
                ProposedPassword=f"Ci-{secrets.token_urlsafe(12)}-9",
                AccessToken=state["after_change"]["AccessToken"],
            ),
        )

    print("boto3: GlobalSignOut", flush=True)

    @check("global_sign_out, then get_user with the old access token: NotAuthorizedException")
    def _():
        token = state["after_change"]["AccessToken"]
        client.global_sign_out(AccessToken=token)
        raises(errors.NotAuthorizedException, lambda: client.get_user(AccessToken=token))

    @check("after global_sign_out: /v1/usage answers 401, the refresh token is refused")
    def _():
        usage_refused(state["after_change"]["AccessToken"])
        refresh = state["after_change"]["RefreshToken"]
        raises(errors.NotAuthorizedException, lambda: refresh_auth(refresh))

    @check("a new sign-in after global_sign_out works")
    def _():
        usage(password_auth(email, password)["AccessToken"])


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # noqa: BLE001
        if not failures:
            failures += 1
            print(f"  FAILED outside a check: {describe(err)}", flush=True)
    print(f"boto3: {passes} passed, {failures} failed", flush=True)
    sys.exit(1 if failures else 0)
