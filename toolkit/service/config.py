"""Settings of the HIS pre-audit service (``clinic serve``) and the safety checks done before it starts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ToolkitError

TOKEN_ENV = "CLINIC_API_TOKEN"
"""Environment variable ``clinic serve`` reads the bearer token from when no ``--token-file`` is given
(the service itself takes it as ``ServiceConfig.token``)."""

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
    max_items: int = 100  # drug lines per prescription (a case over it is a 422 naming the limit)
    max_findings: int = 500  # findings per audited case (over it: a 422 naming the limit)
    audit_timeout_s: float = 10.0  # per case, run off the event loop; over it: 503 naming the limit
    # POST /v1/audit: a case with at most this many lines is first audited on the event loop itself, for
    # at most inline_budget_s; one still running then is interrupted and audited again in the pool,
    # with audit_timeout_s. Under load the hop to a thread (and the GIL hand-over back), not the audit,
    # set the tail latency. 5 lines: 处方管理办法 (2007) 第六条, at most 5 drugs per 西药/中成药 prescription.
    # The budget is a SIGALRM timer, so this works only where the event loop runs in the process's
    # main thread (clinic serve, uvicorn, gunicorn workers); elsewhere, and with 0, every audit goes to
    # the pool. The loop is never held longer than the budget by Python code (a C call, e.g. a regular
    # expression, runs to its end: the pool holds the GIL through it too).
    inline_items: int = 5
    inline_budget_s: float = 0.05
    # POST /v1/audit with a JSON body that is a valid case is answered by a lean ASGI path in front of
    # FastAPI (service.app.AuditFastPath: same answer, same errors; everything else goes through
    # FastAPI). False: every request takes FastAPI's router (to compare, or to debug a middleware).
    fast_audit_path: bool = True
    # threads auditing off the loop (0 = the number of CPUs, at least 2). The audit is pure Python, so
    # more threads add no speed under the GIL; they only keep slow cases from holding up the others.
    audit_threads: int = 0
    # sys.setswitchinterval for the serving process (None = Python's 5 ms): how long a thread that
    # wants the GIL waits before asking the running one to drop it. Shorter = shorter waits for the
    # event loop and queue reads while audits run, for a little more switching overhead.
    switch_interval_s: float | None = 0.001
    max_offset: int = 1_000_000  # review-queue paging (a larger offset is a 400)
    # Retention (Store.purge), off by default: every retention_interval_s the service deletes audits
    # older than retention_days that are not awaiting review (decided, or never queued), with their
    # decisions, cards and feedback, after appending them to retention_archive (JSONL) when set.
    # An audit awaiting review is never removed. Check the local rule before shortening it: 处方管理办法
    # (2007) 第五十条 keeps 普通处方 1 year, 第二类精神药品 2 years, 麻醉/第一类精神药品 3 years.
    retention_days: float | None = None
    retention_archive: str | None = None
    retention_interval_s: float = 3600.0
    # Host header allow-list (DNS rebinding): None = the loopback names when no token is set, any host
    # when a token is (a rebinding page cannot know the token); a tuple = exactly these names.
    allowed_hosts: tuple[str, ...] | None = None
    rules_dir: str | None = None
    local_rules: str | None = None
    # the laboratory's own codes → lab keys (YAML, see toolkit.fhir.codes.LisMap), read once at start for
    # POST /v1/fhir/audit and CDS Hooks; None: labs are read by LOINC and by name only
    lis_map: str | None = None
    auto_migrate: bool = True
    source_label: str = "clinic-toolkit 处方前置审核"
    # CDS Hooks client authentication: a JSON file mapping each EHR issuer (iss) to its JWKS. When set,
    # /cds-services/* calls carry a signed JWT (checked against it) or, for loopback/dev, the bearer token.
    cds_jwks: str | None = None
    cds_audiences: tuple[str, ...] = ()  # accepted `aud` values besides the URL the request came in on


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names accepted by default on a service without a token (any 127.x address is accepted too)."""


def host_allow_list(config: ServiceConfig) -> tuple[str, ...] | None:
    """The Host names the service answers, or None for any (see ``ServiceConfig.allowed_hosts``)."""
    if config.allowed_hosts is not None:
        return tuple(h.strip().lower() for h in config.allowed_hosts)
    return None if config.token else LOOPBACK_HOSTS


def host_allowed(header: str, allowed: tuple[str, ...]) -> bool:
    """True when a Host header (``name[:port]`` or ``[v6]:port``) names an allowed host."""
    value = header.strip().lower()
    if value.startswith("["):
        name = value[1 : value.find("]")] if "]" in value else value
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    name = name.rstrip(".")
    if name in allowed:
        return True
    if "127.0.0.1" in allowed:
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False
    return False


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; false for 0.0.0.0, :: and real addresses."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None = None, token: str | None = None) -> str | None:
    """The bearer token: the first line of ``token_file`` when given, else ``token``.

    Nothing is read from the environment here: ``clinic serve`` passes ``$CLINIC_API_TOKEN`` as ``token``.
    """
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ToolkitError(f"cannot read token file {token_file}: {exc.strerror}") from exc
        token = text.splitlines()[0].strip() if text else ""
        if not token:
            raise ToolkitError(f"token file {token_file} is empty")
    else:
        token = (token or "").strip()
    if token and len(token) < 16:
        raise ToolkitError("the API token must be at least 16 characters")
    return token or None


def check_retention(config: ServiceConfig) -> None:
    """Refuse a retention setting that would delete audits of the current day or run in a tight loop."""
    if config.retention_days is not None and config.retention_days < 1:
        raise ToolkitError(f"retention_days must be at least 1 (got {config.retention_days:g})")
    if config.retention_interval_s < 1:
        raise ToolkitError("retention_interval_s must be at least 1 second")


def check_bind(config: ServiceConfig) -> None:
    """Refuse to serve beyond this machine without a token (patient data would be open to the network)."""
    if not is_loopback(config.host) and not config.token:
        raise ToolkitError(
            f"refusing to listen on {config.host} without authentication: set {TOKEN_ENV} or pass "
            "--token-file (or bind 127.0.0.1)"
        )
