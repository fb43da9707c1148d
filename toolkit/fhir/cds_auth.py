"""CDS Hooks 2.0 client authentication: the CDS Client (the EHR) sends ``Authorization: Bearer <JWT>``
signed with its private key; the service verifies it against the client's JWKS, configured per issuer
(the toolkit is offline: it never fetches ``jku`` URLs).

Checked, per the CDS Hooks 2.0 "Trusting CDS Clients" section:

* header: ``alg`` one of the asymmetric algorithms (ES384 and RS384 are the ones the spec requires;
  ES256/RS256/ES512/RS512/PS384 are accepted too; ``none`` and HMAC never), ``kid`` naming a key of the
  issuer's JWKS;
* claims: ``iss`` a configured client, ``aud`` the URL of the CDS Service being called, ``exp`` in the
  future and ``iat`` not in it (60 s leeway; at most 1 hour between them), ``jti`` present and not seen
  before within its ``exp`` (replay protection, kept in memory: run one process per JWKS or put a
  shared cache in front when scaling out).

The JWKS file (``clinic serve --cds-jwks FILE``) maps each issuer to its JWKS (JSON)::

    {"https://ehr.example-hospital.cn": {"keys": [{"kty": "EC", "crv": "P-384", "kid": "ehr-2026", ...}]}}

or, when a value is a string, to a JWKS file path relative to the config file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError, require

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384")
LEEWAY_S = 60
MAX_LIFETIME_S = 3600


class AuthError(Exception):
    """The JWT is missing or not acceptable; the message says why (no token content is echoed)."""


@dataclass(frozen=True, slots=True)
class Client:
    """The caller of an accepted CDS Hooks JWT: issuer, subject, token id and signing key id."""

    iss: str
    sub: str | None
    jti: str
    kid: str | None


class ReplayCache:
    """``jti`` values seen per issuer, each kept until its ``exp`` (+ leeway)."""

    def __init__(self, max_entries: int = 100_000):
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def check_and_add(self, iss: str, jti: str, exp: float, now: float) -> bool:
        """True when new (and now remembered); False for a replay."""
        with self._lock:
            if len(self._seen) >= self.max_entries or len(self._seen) % 1024 == 0:
                for k in [k for k, until in self._seen.items() if until < now]:
                    del self._seen[k]
            if len(self._seen) >= self.max_entries:
                raise AuthError("too many live JWT ids; try again later")
            key = (iss, jti)
            if key in self._seen and self._seen[key] >= now:
                return False
            self._seen[key] = exp + LEEWAY_S
            return True


def load_jwks_config(path: str | Path) -> dict[str, Any]:
    """Issuer → KeySet from the JSON config file; raises :class:`ToolkitError` naming the problem."""
    require("joserfc", "service")
    from joserfc.jwk import KeySet

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"cannot read the CDS Hooks JWKS config {p}: {exc}") from exc
    if not isinstance(data, Mapping) or not data:
        raise ToolkitError(f"{p}: expected an object mapping each issuer (iss) to its JWKS")
    out = {}
    for iss, jwks in data.items():
        if isinstance(jwks, str):
            try:
                jwks = json.loads((p.parent / jwks).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ToolkitError(f"{p}: {iss}: cannot read JWKS file {jwks}: {exc}") from exc
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
            raise ToolkitError(f"{p}: {iss}: expected a JWKS object with a non-empty 'keys' list")
        for n, k in enumerate(jwks["keys"]):
            if not isinstance(k, Mapping) or k.get("kty") not in {"EC", "RSA"}:
                raise ToolkitError(f"{p}: {iss}: keys[{n}]: only EC and RSA public keys are accepted")
            if any(f in k for f in ("d", "p", "q", "dp", "dq", "qi")):
                raise ToolkitError(f"{p}: {iss}: keys[{n}] holds a private key; configure public keys only")
        try:
            out[str(iss)] = KeySet.import_key_set(dict(jwks))
        except Exception as exc:  # joserfc raises several types for malformed keys
            raise ToolkitError(f"{p}: {iss}: invalid JWKS: {type(exc).__name__}") from exc
    return out


class JwtVerifier:
    """Verify CDS Client JWTs against per-issuer key sets."""

    def __init__(
        self,
        keysets: Mapping[str, Any],
        *,
        audiences: Iterable[str] = (),
        replay: ReplayCache | None = None,
        clock: Any = time.time,
    ):
        self.keysets = dict(keysets)
        self.audiences = frozenset(a.rstrip("/") for a in audiences)
        self.replay = replay or ReplayCache()
        self.clock = clock

    @classmethod
    def from_file(cls, path: str | Path, audiences: Iterable[str] = ()) -> JwtVerifier:
        """A verifier with the per-issuer key sets of a JWKS config file (see :func:`load_jwks_config`)."""
        return cls(load_jwks_config(path), audiences=audiences)

    def verify(self, authorization: str | None, service_url: str) -> Client:
        """Check an ``Authorization`` header for a call to ``service_url``; raise :class:`AuthError`."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jws import extract_compact

        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer JWT")
        token = authorization[7:].strip()
        if token.count(".") != 2 or len(token) > 16_384:
            raise AuthError("not a compact JWS")
        try:
            header = extract_compact(token.encode()).headers()
            claims_unverified = json.loads(_b64(token.split(".")[1]))
        except Exception as exc:
            raise AuthError("malformed JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"alg {alg!r} not accepted; use one of {', '.join(ALGORITHMS)}")
        if not header.get("kid"):
            raise AuthError("the JWT header needs a kid")
        iss = claims_unverified.get("iss") if isinstance(claims_unverified, dict) else None
        keyset = self.keysets.get(iss) if isinstance(iss, str) else None
        if keyset is None:
            raise AuthError("unknown issuer (iss): configure its JWKS")
        try:
            tok = jwt.decode(token, keyset, algorithms=[alg])
        except JoseError as exc:
            raise AuthError(f"signature not verified ({exc.error})") from exc
        c = tok.claims
        now = self.clock()
        for name in ("iss", "aud", "exp", "iat", "jti"):
            if c.get(name) in (None, ""):
                raise AuthError(f"the JWT needs the {name} claim")
        auds = c["aud"] if isinstance(c["aud"], list) else [c["aud"]]
        wanted = {service_url.rstrip("/")} | self.audiences
        if not any(isinstance(a, str) and a.rstrip("/") in wanted for a in auds):
            raise AuthError("aud is not this CDS Service's URL")
        try:
            exp, iat = float(c["exp"]), float(c["iat"])
        except (TypeError, ValueError) as exc:
            raise AuthError("exp and iat must be numbers") from exc
        if exp < now - LEEWAY_S:
            raise AuthError("the JWT has expired")
        if iat > now + LEEWAY_S:
            raise AuthError("the JWT was issued in the future (iat)")
        if exp - iat > MAX_LIFETIME_S:
            raise AuthError(f"the JWT lives longer than {MAX_LIFETIME_S} s (exp - iat)")
        if not isinstance(c["jti"], str) or len(c["jti"]) > 256:
            raise AuthError("jti must be a string of at most 256 characters")
        if not self.replay.check_and_add(iss, c["jti"], exp, now):
            raise AuthError("this JWT (jti) was already used")
        return Client(iss=iss, sub=c.get("sub"), jti=c["jti"], kid=header.get("kid"))


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
