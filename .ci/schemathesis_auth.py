"""schemathesis hook: a JWT of a fresh sign-in session for every generated request.

Sign-out and session revocation end the session whose token they carry (or any session they
can name). With one token shared by the whole run, the first of them to succeed would turn every
later request into a 401; with a session per request, each operation meets a live credential.
The account comes from SCHEMATHESIS_BASE, SCHEMATHESIS_EMAIL and SCHEMATHESIS_PASSWORD.
"""

import os

import requests
import schemathesis

BASE = os.environ["SCHEMATHESIS_BASE"]
CREDENTIALS = {
    "email": os.environ["SCHEMATHESIS_EMAIL"],
    "password": os.environ["SCHEMATHESIS_PASSWORD"],
}


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    def get(self, case, context):
        response = requests.post(f"{BASE}/v1/auth/sign-in", json=CREDENTIALS, timeout=30)
        response.raise_for_status()
        return response.json()["data"]["accessToken"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
