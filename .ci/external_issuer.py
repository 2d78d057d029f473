"""Interoperability of trusted external issuers with an independent implementation.

This process plays a Cognito user pool: it makes its own RSA key with `cryptography`, serves
the JWKS over HTTP, and mints access and ID tokens with PyJWT in Cognito's claim layout. The
built server is started trusting it, and the tokens must work exactly like the service's own.

Usage: python3 .ci/external_issuer.py ./target/debug/cloudsigma-auth
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

POOL_ID = "eu-west-1_PyPool1"
CLIENT_ID = "5pyclient0example"
KID = "py-" + uuid.uuid4().hex[:12]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
JWKS = json.dumps({"keys": [jwk]}).encode()


class Jwks(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != f"/{POOL_ID}/.well-known/jwks.json":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("Content-Length", str(len(JWKS)))
        self.end_headers()
        self.wfile.write(JWKS)

    def log_message(self, *args):
        pass


jwks_server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
ISS = f"http://127.0.0.1:{jwks_server.server_address[1]}/{POOL_ID}"


def token(token_use, **claims):
    now = int(time.time())
    body = {
        "sub": "py-user-sub-1",
        "iss": ISS,
        "origin_jti": claims.pop("origin_jti", str(uuid.uuid4())),
        "event_id": str(uuid.uuid4()),
        "token_use": token_use,
        "auth_time": now - 10,
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    if token_use == "access":
        body.update(client_id=CLIENT_ID, scope="aws.cognito.signin.user.admin",
                    username="py-user-sub-1")
    else:
        body.update({"aud": CLIENT_ID, "cognito:username": "py-user-sub-1",
                     "email": "py@example.com", "email_verified": True})
    body.update(claims)
    return jwt.encode(body, private_key, algorithm="RS256", headers={"kid": KID})


def main(binary):
    work = tempfile.mkdtemp()
    issuers = os.path.join(work, "issuers.toml")
    with open(issuers, "w") as f:
        f.write(f'[[issuer]]\niss = "{ISS}"\nclient_ids = ["{CLIENT_ID}"]\n'
                'token_use = ["access", "id"]\nauthoritative = true\n')
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/auth.db?mode=rwc",
               CLOUDSIGMA_TRUSTED_ISSUERS=issuers, RUST_LOG="warn")

    check = subprocess.run([binary, "issuers", "check"], env=env, capture_output=True, text=True)
    print(check.stdout.strip())
    assert check.returncode == 0 and KID in check.stdout, check

    addr = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen([binary, "serve"], env=dict(env, CLOUDSIGMA_LISTEN=addr),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    access = key = None
    try:
        base = f"http://{addr}"
        for _ in range(100):
            try:
                requests.get(f"{base}/v1/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

        def get(path, bearer):
            return requests.get(base + path, headers={"Authorization": f"Bearer {bearer}"})

        access = token("access", **{"custom:tier": "pro", "origin_jti": "py-sign-in-1"})
        usage = get("/v1/usage", access)
        print("access token:", usage.status_code, usage.json())
        assert usage.status_code == 200 and usage.json()["data"]["tier"] == "pro", usage.text

        checked = get("/authz/check/v1/usage", token("id", **{"custom:tier": "pro"}))
        print("ID token at the gateway check:", checked.status_code,
              checked.headers.get("x-cloudsigma-email"))
        assert checked.status_code == 200
        assert checked.headers["x-cloudsigma-email"] == "py@example.com"

        created = requests.post(f"{base}/v1/api-keys", json={"name": "py"},
                                headers={"Authorization": f"Bearer {access}"})
        assert created.status_code == 200, created.text
        key = created.json()["data"]["key"]
        assert get("/v1/usage", key).status_code == 200

        wrong = get("/v1/usage", token("access", client_id="someone-else"))
        body = wrong.json()
        print("wrong client:", wrong.status_code, body)
        assert wrong.status_code == 401 and body["error"]["code"] == "Unauthorized", body

        out = requests.post(f"{base}/v1/auth/sign-out", json={},
                            headers={"Authorization": f"Bearer {access}"})
        assert out.status_code == 200, out.text
        again = token("access", **{"custom:tier": "pro", "origin_jti": "py-sign-in-1"})
        for bearer in (access, again):
            refused = get("/v1/usage", bearer)
            assert refused.status_code == 401, refused.text
        print("signed out: the token and its sign-in's next token are refused")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
        for secret in filter(None, (access, key)):
            assert secret not in stderr.decode(), "a secret reached the log"


if __name__ == "__main__":
    main(sys.argv[1])
