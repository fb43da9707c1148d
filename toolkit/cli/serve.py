"""``clinic serve``: the HIS pre-audit HTTP service (thin shell over toolkit.service)."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.errors import ToolkitError


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="bind address; non-loopback needs a token"),
        port: int = typer.Option(8000, "--port"),
        db: str = typer.Option("sqlite:///./clinic.db", "--db",
                               help="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://user@host/db"),
        token_file: Path | None = typer.Option(None, "--token-file",
                                               help="file whose first line is the bearer token "
                                                    "(else env CLINIC_API_TOKEN)"),
        rules_dir: Path | None = typer.Option(None, "--rules", help="knowledge-base directory"),
        local: Path | None = typer.Option(None, "--local", help="institution rule overrides (YAML)"),
        max_body: int = typer.Option(1 << 20, "--max-body", help="largest request body in bytes (else 413)"),
        max_batch: int = typer.Option(100, "--max-batch", help="most cases in one /v1/audit/batch call"),
        max_items: int = typer.Option(100, "--max-items", min=1, help="drug lines per prescription (else 422)"),
        max_findings: int = typer.Option(500, "--max-findings", min=1, help="findings per prescription (else 422)"),
        audit_timeout: float = typer.Option(10.0, "--audit-timeout", min=0.01,
                                            help="seconds one audit may take (else 503)"),
        allowed_hosts: list[str] | None = typer.Option(
            None, "--allowed-host", help="Host header names answered (repeat); default: loopback names "
                                         "without a token, any with one (DNS-rebinding guard)"),
        cds_jwks: Path | None = typer.Option(
            None, "--cds-jwks", help="CDS Hooks client JWKS per issuer (JSON): /cds-services/* then accept a "
                                     "signed JWT from those EHRs (README: CDS Hooks authentication)"),
        cds_audience: list[str] | None = typer.Option(
            None, "--cds-audience", help="extra accepted JWT aud (the service URL as the EHR sees it, behind "
                                         "a proxy); repeat"),
        retention_days: float | None = typer.Option(
            None, "--retention-days", min=1,
            help="delete audits older than this many days that are not awaiting review (decided or never "
                 "queued), hourly; default: keep everything (README: retention)"),
        retention_archive: Path | None = typer.Option(
            None, "--retention-archive", help="append each audit removed by retention to this JSONL file first"),
        migrate_only: bool = typer.Option(False, "--migrate", help="apply database migrations and exit"),
        auto_migrate: bool = typer.Option(True, "--auto-migrate/--no-auto-migrate",
                                          help="apply migrations on startup"),
    ) -> None:
        """处方前置审核 HTTP 服务: JSON、FHIR R4B、CDS Hooks 与药师审核队列。"""
        from toolkit.service.config import ServiceConfig, check_bind, read_token

        try:
            if migrate_only:
                from toolkit.service.db import make_engine, migrate

                rev = migrate(make_engine(db))
                typer.echo(f"database at revision {rev}", err=True)
                return
            config = ServiceConfig(db_url=db, host=host, port=port, token=read_token(token_file),
                                   max_body_bytes=max_body, max_batch=max_batch, max_items=max_items,
                                   max_findings=max_findings, audit_timeout_s=audit_timeout,
                                   allowed_hosts=tuple(allowed_hosts) if allowed_hosts else None,
                                   rules_dir=str(rules_dir) if rules_dir else None,
                                   local_rules=str(local) if local else None, auto_migrate=auto_migrate,
                                   cds_jwks=str(cds_jwks) if cds_jwks else None,
                                   cds_audiences=tuple(cds_audience or ()), retention_days=retention_days,
                                   retention_archive=str(retention_archive) if retention_archive else None)
            check_bind(config)
            from toolkit.service import serve

            serve(config)
        except ToolkitError as exc:
            typer.secho(f"错误: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
