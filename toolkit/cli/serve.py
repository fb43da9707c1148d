"""``clinic serve``: the HIS pre-audit HTTP service (thin shell over toolkit.service)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from toolkit.cli._zh import error_message
from toolkit.errors import ToolkitError

LIS_MAP_ENV = "CLINIC_LIS_MAP"
"""Environment variable ``clinic serve`` falls back to for ``--lis-map`` (the service takes
``ServiceConfig.lis_map``)."""


def describe_db(url: str) -> str:
    """The database a person can find: the SQLite file's absolute path, or PostgreSQL host/db and user;
    never the password."""
    try:
        from sqlalchemy.engine import make_url

        u = make_url(url)
    except Exception:
        return "无法解析的数据库 URL"
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            return "SQLite 内存数据库（退出后不保留）"
        return f"SQLite 文件 {Path(u.database).expanduser().resolve()}"
    where = f"{u.host or 'localhost'}" + (f":{u.port}" if u.port else "") + f"/{u.database or ''}"
    name = {"postgresql": "PostgreSQL"}.get(u.get_backend_name(), u.get_backend_name())
    return f"{name} {where}" + (f"（用户 {u.username}）" if u.username else "")


def port_in_use(host: str, port: int) -> bool:
    """True only when something already listens on ``host:port`` (any other bind problem, e.g. an unknown
    host name, is left to uvicorn to report). SO_REUSEADDR as uvicorn, so a port in TIME_WAIT is free."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, 10048)
    return False


def start_lines(config: Any, kb_version: str) -> list[str]:
    """What ``clinic serve`` prints once it listens: where, which database, which knowledge base, which auth."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    auth = "开（Bearer 令牌）" if config.token else "关（仅本机回环地址可访问）"
    cds = (
        f"开（JWT，公钥集 {config.cds_jwks}）"
        if config.cds_jwks
        else "关（/cds-services 与其他接口一样按 API 认证）"
    )
    return [
        f"clinic serve 已启动：http://{host}:{config.port}（Ctrl+C 停止）",
        f"  数据库：{describe_db(config.db_url)}",
        f"  知识库版本：{kb_version}" + (f"；本院规则：{config.local_rules}" if config.local_rules else ""),
        f"  API 认证：{auth}",
        f"  CDS Hooks JWT 认证：{cds}",
    ]


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    def serve_cmd(
        host: str = typer.Option(
            "127.0.0.1", "--host", metavar="地址", help="监听地址；非本机回环地址必须设置令牌（token）"
        ),
        port: int = typer.Option(8000, "--port", metavar="端口", help="监听端口"),
        db: str = typer.Option(
            "sqlite:///./clinic.db",
            "--db",
            metavar="数据库",
            help="数据库 SQLAlchemy URL：sqlite:///文件 或 postgresql+psycopg://用户@主机/库名",
        ),
        token_file: Path | None = typer.Option(
            None,
            "--token-file",
            metavar="文件",
            help="首行为 Bearer 令牌（token）的文件（否则读环境变量 CLINIC_API_TOKEN）",
        ),
        rules_dir: Path | None = typer.Option(None, "--rules", metavar="目录", help="知识库目录"),
        local: Path | None = typer.Option(None, "--local", metavar="文件", help="本院规则覆盖（YAML）"),
        lis_map: Path | None = typer.Option(
            None,
            "--lis-map",
            envvar=LIS_MAP_ENV,
            metavar="文件",
            help="本院检验系统项目编码与检验项目的对照表（YAML 文件，格式见 README），"
            "用于读取 FHIR 与 CDS Hooks 请求中的检验结果",
        ),
        max_body: int = typer.Option(
            1 << 20, "--max-body", metavar="字节数", help="请求体最大字节数（超过返回 413）"
        ),
        max_batch: int = typer.Option(
            100, "--max-batch", metavar="数量", help="一次 /v1/audit/batch 调用最多的病例数"
        ),
        max_items: int = typer.Option(
            100, "--max-items", min=1, metavar="行数", help="每张处方最多药品行数（超过返回 422）"
        ),
        max_findings: int = typer.Option(
            500, "--max-findings", min=1, metavar="条数", help="每张处方最多问题条数（超过返回 422）"
        ),
        audit_timeout: float = typer.Option(
            10.0, "--audit-timeout", min=0.01, metavar="秒", help="单次审核最长用时（超过返回 503）"
        ),
        allowed_hosts: list[str] | None = typer.Option(
            None,
            "--allowed-host",
            metavar="主机名",
            help="只应答这些 Host 请求头（可重复）；默认：无令牌时只应答本机回环名称，有令牌时全部应答"
            "（防 DNS 重绑定）",
        ),
        cds_jwks: Path | None = typer.Option(
            None,
            "--cds-jwks",
            metavar="文件",
            help="各签发方的 CDS Hooks 客户端公钥集（JWKS，JSON）：设置后 /cds-services/* 只接受这些电子病历系统"
            "签名的 JWT（见 README：CDS Hooks 认证）",
        ),
        cds_audience: list[str] | None = typer.Option(
            None,
            "--cds-audience",
            metavar="URL",
            help="额外接受的 JWT 受众（aud，即电子病历系统经代理看到的本服务 URL）；可重复",
        ),
        retention_days: float | None = typer.Option(
            None,
            "--retention-days",
            min=1,
            metavar="天数",
            help="每小时删除早于该天数且不在待审队列中（已审核或从未入队）的审核记录；默认：全部保留"
            "（见 README：数据保留）",
        ),
        retention_archive: Path | None = typer.Option(
            None,
            "--retention-archive",
            metavar="文件",
            help="按保留期删除前，先把每条记录追加到此 JSONL 文件",
        ),
        migrate_only: bool = typer.Option(False, "--migrate", help="执行数据库迁移后退出"),
        auto_migrate: bool = typer.Option(
            True, "--auto-migrate/--no-auto-migrate", help="启动时自动执行数据库迁移"
        ),
    ) -> None:
        """处方前置审核 HTTP 服务: JSON、FHIR R4B、CDS Hooks 与药师审核队列。"""
        from toolkit.service.config import TOKEN_ENV, ServiceConfig, check_bind, read_token

        try:
            if migrate_only:
                from toolkit.service.db import make_engine, migrate

                rev = migrate(make_engine(db))
                typer.echo(f"数据库已迁移到版本 {rev}（{describe_db(db)}）", err=True)
                return
            config = ServiceConfig(
                db_url=db,
                host=host,
                port=port,
                # the service reads no environment: the documented variable is read here, as the fallback
                token=read_token(token_file, token=os.environ.get(TOKEN_ENV)),
                max_body_bytes=max_body,
                max_batch=max_batch,
                max_items=max_items,
                max_findings=max_findings,
                audit_timeout_s=audit_timeout,
                allowed_hosts=tuple(allowed_hosts) if allowed_hosts else None,
                rules_dir=str(rules_dir) if rules_dir else None,
                local_rules=str(local) if local else None,
                lis_map=str(lis_map) if lis_map else None,
                auto_migrate=auto_migrate,
                cds_jwks=str(cds_jwks) if cds_jwks else None,
                cds_audiences=tuple(cds_audience or ()),
                retention_days=retention_days,
                retention_archive=str(retention_archive) if retention_archive else None,
            )
            check_bind(config)
            from toolkit.service import serve

            if port_in_use(host, port):  # a clear message instead of uvicorn's English bind error
                raise ToolkitError(
                    f"{host}:{port} 已被占用（可能已有一个 clinic serve 在运行）；请关闭它，"
                    f"或用 --port 换一个端口"
                )

            def started(app: Any) -> None:
                inner = app  # the FastAPI app sits inside the auth/size guard
                while not hasattr(inner, "state") and hasattr(inner, "app"):
                    inner = inner.app
                kb = getattr(getattr(getattr(inner, "state", None), "knowledge", None), "version", "（未知）")
                for line in start_lines(config, kb):
                    typer.echo(line, err=True)

            serve(config, on_started=started)
            typer.echo("clinic serve 已停止（服务已关闭）", err=True)
        except ToolkitError as exc:
            typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
            raise typer.Exit(2) from exc
