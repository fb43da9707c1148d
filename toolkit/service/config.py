"""Settings of the HIS pre-audit service (``clinic serve``) and the safety checks done before it starts."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ToolkitError

TOKEN_ENV = "CLINIC_API_TOKEN"
"""Environment variable holding the bearer token clients must present."""

DEFAULT_DB_URL = "sqlite:///./clinic.db"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How one service process runs.

    ``token`` is the bearer token every request must carry (``Authorization: Bearer …``); ``None``
    means no authentication, which :func:`check_bind` only allows on a loopback host.
    """

    db_url: str = DEFAULT_DB_URL
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = 1 << 20
    max_batch: int = 100
    rules_dir: str | None = None
    local_rules: str | None = None
    auto_migrate: bool = True
    source_label: str = "clinic-toolkit 处方前置审核"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; false for 0.0.0.0, :: and real addresses."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None = None, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token from ``token_file`` (first line) or the ``CLINIC_API_TOKEN`` environment variable."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ToolkitError(f"cannot read token file {token_file}: {exc.strerror}") from exc
        token = text.splitlines()[0].strip() if text else ""
        if not token:
            raise ToolkitError(f"token file {token_file} is empty")
    else:
        token = env.get(TOKEN_ENV, "").strip()
    if token and len(token) < 16:
        raise ToolkitError("the API token must be at least 16 characters")
    return token or None


def check_bind(config: ServiceConfig) -> None:
    """Refuse to serve beyond this machine without a token (patient data would be open to the network)."""
    if not is_loopback(config.host) and not config.token:
        raise ToolkitError(
            f"refusing to listen on {config.host} without authentication: set {TOKEN_ENV} or pass "
            "--token-file (or bind 127.0.0.1)"
        )
