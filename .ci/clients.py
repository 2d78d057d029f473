"""Real-client checks against a running server (address in argv[1]).

Independent verification of issued tokens with PyJWT (fetching the JWKS with PyJWKClient), and
the README's Python examples with `requests`.
"""

import sys
import uuid

import jwt
import requests

addr = sys.argv[1]
base = f"http://{addr}"
issuer = base


def ok(response):
    body = response.json()
    assert response.status_code == 200 and body["success"] is True, (response.status_code, body)
    return body["data"]


email = f"ci-{uuid.uuid4().hex[:8]}@example.com"
password = "correct horse battery"
user = ok(requests.post(f"{base}/v1/auth/sign-up", json={"email": email, "password": password}))
tokens = ok(requests.post(f"{base}/v1/auth/sign-in", json={"email": email, "password": password}))

# PyJWT: keys from the JWKS, RS256 only, exact issuer.
jwks_client = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
signing_key = jwks_client.get_signing_key_from_jwt(tokens["accessToken"])
claims = jwt.decode(
    tokens["accessToken"],
    signing_key.key,
    algorithms=["RS256"],
    issuer=issuer,
    options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
)
assert claims["token_use"] == "access", claims
assert claims["sub"] == user["userId"], claims
assert claims["client_id"] == "cloudsigma_api", claims
assert claims["custom:tier"] == "free", claims
assert "custom:teamId" in claims, claims
assert claims["exp"] - claims["iat"] == 3600, claims

id_claims = jwt.decode(
    tokens["idToken"],
    jwks_client.get_signing_key_from_jwt(tokens["idToken"]).key,
    algorithms=["RS256"],
    issuer=issuer,
    audience="cloudsigma_api",
)
assert id_claims["token_use"] == "id" and id_claims["email"] == email, id_claims
print("PyJWT verified the access and ID tokens against the JWKS")

# The README's usage example, with a JWT.
usage = requests.get(
    f"{base}/v1/usage", headers={"Authorization": f"Bearer {tokens['accessToken']}"}
).json()
assert usage["success"] and usage["data"]["tier"] == "free" and usage["data"]["limit"] == 20, usage
assert usage["data"]["periodStart"].endswith("-01T00:00:00Z"), usage
print("requests: /v1/usage with a JWT:", usage)
