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
                                   max_body_bytes=max_body, max_batch=max_batch,
                                   rules_dir=str(rules_dir) if rules_dir else None,
                                   local_rules=str(local) if local else None, auto_migrate=auto_migrate)
            check_bind(config)
            from toolkit.service import serve

            serve(config)
        except ToolkitError as exc:
            typer.secho(f"错误: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
