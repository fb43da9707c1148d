"""CDS Hooks 2.0 JWT client authentication (toolkit.fhir.cds_auth): signed by the EHR's key, checked
against its configured JWKS; iss, aud, exp, iat, jti and kid required; replays refused."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("joserfc")

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from toolkit.errors import ToolkitError
from toolkit.fhir.cds_auth import AuthError, JwtVerifier, load_jwks_config

ISS = "https://ehr.example-hospital.cn"
URL = "http://127.0.0.1/cds-services/rx-preaudit"


@pytest.fixture(scope="module")
def ec_key() -> Any:
    return ECKey.generate_key("P-384", parameters={"kid": "ehr-ec"})


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-rsa"})


def sign(key: Any, alg: str = "ES384", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISS,
        "sub": "ehr-client",
        "aud": URL,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    return "Bearer " + jwt.encode(header, body, key, algorithms=[alg])


@pytest.fixture
def verifier(tmp_path: Path, ec_key: Any, rsa_key: Any) -> JwtVerifier:
    cfg = tmp_path / "cds-jwks.json"
    cfg.write_text(
        json.dumps({ISS: {"keys": [ec_key.as_dict(private=False), rsa_key.as_dict(private=False)]}}),
        encoding="utf-8",
    )
    return JwtVerifier.from_file(cfg)


def test_a_signed_jwt_from_a_configured_client_is_accepted(
    verifier: JwtVerifier, ec_key: Any, rsa_key: Any
) -> None:
    client = verifier.verify(sign(ec_key), URL)
    assert (client.iss, client.sub, client.kid) == (ISS, "ehr-client", "ehr-ec")
    assert verifier.verify(sign(rsa_key, "RS384"), URL).kid == "ehr-rsa"
    assert verifier.verify(sign(ec_key, aud=[URL, "other"]), URL + "/").iss == ISS  # aud as a list


def test_replayed_jti_is_refused(verifier: JwtVerifier, ec_key: Any) -> None:
    token = sign(ec_key)
    verifier.verify(token, URL)
    with pytest.raises(AuthError, match="already used"):
        verifier.verify(token, URL)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "http://127.0.0.1/cds-services/other"}, "aud"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3900}, "expired"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3700}, "future"),
        ({"exp": int(time.time()) + 7200}, "longer"),
        ({"jti": None}, "jti"),
        ({"aud": None}, "aud"),
        ({"iss": "https://someone-else.cn"}, "issuer"),
    ],
)
def test_bad_claims_are_refused(verifier: JwtVerifier, ec_key: Any, claims: dict[str, Any], why: str) -> None:
    with pytest.raises(AuthError, match=why):
        verifier.verify(sign(ec_key, **claims), URL)


def test_wrong_key_none_and_hmac_are_refused(verifier: JwtVerifier) -> None:
    stranger = ECKey.generate_key("P-384", parameters={"kid": "ehr-ec"})  # same kid, other key
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(sign(stranger), URL)
    unknown_kid = ECKey.generate_key("P-384", parameters={"kid": "nope"})
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(sign(unknown_kid), URL)
    secret = OctKey.import_key("x" * 32, parameters={"kid": "ehr-ec"})
    with pytest.raises(AuthError, match="alg"):
        verifier.verify(
            "Bearer "
            + jwt.encode(
                {"alg": "HS256", "kid": "ehr-ec"}, {"iss": ISS, "aud": URL}, secret, algorithms=["HS256"]
            ),
            URL,
        )
    import base64

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'kid': 'ehr-ec'})}.{b64({'iss': ISS, 'aud': URL})}."
    with pytest.raises(AuthError, match="alg"):
        verifier.verify("Bearer " + unsigned, URL)
    for header in (None, "Basic abc", "Bearer not-a-jwt"):
        with pytest.raises(AuthError):
            verifier.verify(header, URL)


def test_configured_audiences_are_accepted_behind_a_proxy(tmp_path: Path, ec_key: Any) -> None:
    cfg = tmp_path / "j.json"
    cfg.write_text(json.dumps({ISS: {"keys": [ec_key.as_dict(private=False)]}}), encoding="utf-8")
    v = JwtVerifier.from_file(cfg, audiences=["https://cds.hospital.cn/cds-services/rx-preaudit"])
    assert v.verify(sign(ec_key, aud="https://cds.hospital.cn/cds-services/rx-preaudit"), URL).iss == ISS


def test_the_config_refuses_private_keys_and_bad_files(tmp_path: Path, ec_key: Any) -> None:
    cfg = tmp_path / "j.json"
    cfg.write_text(json.dumps({ISS: {"keys": [ec_key.as_dict(private=True)]}}), encoding="utf-8")
    with pytest.raises(ToolkitError, match="private"):
        load_jwks_config(cfg)
    cfg.write_text("{}", encoding="utf-8")
    with pytest.raises(ToolkitError, match="issuer"):
        load_jwks_config(cfg)
    (tmp_path / "ehr.jwks").write_text(
        json.dumps({"keys": [ec_key.as_dict(private=False)]}), encoding="utf-8"
    )
    cfg.write_text(json.dumps({ISS: "ehr.jwks"}), encoding="utf-8")  # a JWKS file next to the config
    assert set(load_jwks_config(cfg)) == {ISS}
