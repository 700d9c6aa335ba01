"""A fake OpenID Connect provider on loopback: discovery, JWKS, code flow with PKCE, userinfo.

It runs in a thread (a WSGI app under wsgiref); nothing leaves the machine. Knobs make it
misbehave the ways a real IdP or an attacker could: ``bad_signature`` signs the ID token with a
key that is not in its JWKS, ``audience`` / ``expired`` spoil those claims, and
``issue_code(..., code_challenge=…)`` binds a code to another PKCE challenge.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "test-key-1"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class FakeIdP:
    client_id: str = "portal-client"
    client_secret: str = "portal-secret-123456"
    claims: dict = field(default_factory=lambda: {"sub": "u-1", "email": "dora@acme.example", "email_verified": True})
    bad_signature: bool = False
    audience: str | None = None
    expired: bool = False
    token_requests: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.server = make_server("127.0.0.1", 0, self.app, server_class=_Server, handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIdP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what a test drives directly -------------------------------------------------------

    def issue_code(self, query: dict[str, str], *, code_challenge: str | None = None) -> str:
        """What the IdP does when the user signs in at its authorize page: a code for ``query``."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": query["client_id"],
            "redirect_uri": query["redirect_uri"],
            "code_challenge": code_challenge if code_challenge is not None else query.get("code_challenge"),
            "method": query.get("code_challenge_method"),
            "claims": dict(self.claims),
        }
        return code

    def id_token(self, claims: dict) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": self.audience or self.client_id,
            "iat": now - 5,
            "exp": now - 60 if self.expired else now + 300,
            "jti": secrets.token_hex(8),
            **claims,
        }
        key = self.other_key if self.bad_signature else self.key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})

    # --- the HTTP side ----------------------------------------------------------------------

    def app(self, environ: dict, start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        method = environ["REQUEST_METHOD"]
        if method == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
        else:
            form = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if path == "/.well-known/openid-configuration":
            return self._json(start_response, self.discovery())
        if path == "/jwks":
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
            return self._json(start_response, {"keys": [jwk]})
        if path == "/authorize" and method == "GET":
            return self._login_page(start_response, form)
        if path == "/authorize" and method == "POST":
            code = self.issue_code(form)
            target = form["redirect_uri"] + "?" + urlencode({"code": code, "state": form.get("state", "")})
            start_response("302 Found", [("Location", target)])
            return [b""]
        if path == "/token" and method == "POST":
            return self._token(start_response, form, environ)
        if path == "/userinfo":
            bearer = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
            claims = self.tokens.get(bearer)
            if claims is None:
                return self._json(start_response, {"error": "invalid_token"}, "401 Unauthorized")
            return self._json(start_response, claims)
        return self._json(start_response, {"error": "not_found"}, "404 Not Found")

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _token(self, start_response: Any, form: dict, environ: dict) -> list[bytes]:
        self.token_requests.append(form)
        secret = form.get("client_secret")
        client_id = form.get("client_id")
        basic = environ.get("HTTP_AUTHORIZATION", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or client_id != self.client_id or secret != self.client_secret:
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        verifier = form.get("code_verifier") or ""
        if not grant["code_challenge"] or _s256(verifier) != grant["code_challenge"]:
            return self._json(
                start_response, {"error": "invalid_grant", "error_description": "PKCE"}, "400 Bad Request"
            )
        access = secrets.token_urlsafe(16)
        self.tokens[access] = grant["claims"]
        return self._json(
            start_response,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant["claims"]),
            },
        )

    def _login_page(self, start_response: Any, query: dict) -> list[bytes]:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in query.items()
        )
        page = (
            "<!doctype html><html lang=en><title>Fake IdP</title><h1>Fake IdP</h1>"
            f'<form method="post" action="/authorize">{hidden}'
            f'<button id="idp-sign-in" type="submit">Sign in as {html.escape(self.claims["email"])}</button></form>'
        )
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]

    @staticmethod
    def _json(start_response: Any, body: dict, status: str = "200 OK") -> list[bytes]:
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]
