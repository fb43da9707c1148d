"""``clinic demo``: the Chinese web app for doctors and pharmacists (thin shell over demo/app.py)."""

from __future__ import annotations

import importlib.util
import logging
from importlib import resources
from pathlib import Path
from types import ModuleType

import typer

from toolkit.errors import MissingExtraError, ToolkitError

log = logging.getLogger(__name__)

USERS_ENV = "CLINIC_DEMO_USERS"
"""Environment variable ``clinic demo`` falls back to for ``--users`` (a file of ``用户名:sha256(密码)`` lines)."""
HOSTS_ENV = "CLINIC_DEMO_ALLOWED_HOSTS"
"""Environment variable ``clinic demo`` falls back to for ``--allowed-host`` (comma-separated; ``*``: any)."""


def load_demo_module() -> ModuleType:
    """``demo/app.py`` (the Gradio views), found through ``importlib.resources`` as the package carries it:
    ``demo/`` stays at the top of the repository and ``toolkit/demo_app`` is a link to it, the way
    ``toolkit/rules`` links ``rules/`` (an editable install reads the checkout, a wheel its copy)."""
    if importlib.util.find_spec("gradio") is None:
        raise MissingExtraError("gradio", "demo")
    path = Path(str(resources.files("toolkit") / "demo_app" / "app.py"))
    spec = importlib.util.spec_from_file_location("demo.app", path) if path.is_file() else None
    if spec is None or spec.loader is None:
        raise ToolkitError(
            f"安装的 toolkit 包中找不到演示界面 demo_app/app.py（{path}）；请在源码目录中用 "
            "`pip install -e .[demo]` 重新安装后运行 `clinic demo`"
        )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""

    @app.command("demo")
    def demo_cmd(
        port: int = typer.Option(
            7860, "--port", metavar="端口", help="127.0.0.1 上的端口（演示只在本机监听）"
        ),
        db: str = typer.Option(
            "sqlite:///./clinic.db",
            "--db",
            metavar="数据库",
            help="审方队列数据库，与 `clinic serve` 共用（SQLAlchemy URL）",
        ),
        no_asr: bool = typer.Option(False, "--no-asr-warmup", help="不预热语音模型，首次使用时再加载"),
        allowed_hosts: list[str] | None = typer.Option(
            None,
            "--allowed-host",
            envvar=HOSTS_ENV,
            metavar="主机名",
            help="除本机回环名称外还应答的 Host 请求头（可重复，或逗号分隔；* 表示不检查）（防 DNS 重绑定）",
        ),
        users: Path | None = typer.Option(
            None,
            "--users",
            envvar=USERS_ENV,
            exists=True,
            dir_okay=False,
            metavar="文件",
            help="审方药师账号文件（每行 `用户名:sha256(密码)`）：设置后需登录，审核决定记在登录账号名下",
        ),
    ) -> None:
        """语音病历、处方审核、批量审方与审方队列的网页演示（http://127.0.0.1:端口）。"""
        try:
            check_port_free(port)  # before the slow warm-up, and before any URL is printed
            module = load_demo_module()
            from toolkit.demo_api import warm_up

            warm_up(asr=not no_asr)  # once, before the first visitor: spaCy ~10 s, Whisper ~2 s
            blocks = module.build_app(db, warm=False)
            # returns once the server listens; the options (or their variables) are passed down explicitly
            module.launch(blocks, port, block=False, hosts=allowed_hosts or (), users=users)
            typer.echo(f"clinic demo 已启动：http://127.0.0.1:{port}（Ctrl+C 停止）", err=True)
            blocks.block_thread()
        except PortBusy as exc:
            typer.secho(f"错误: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
        except OSError as exc:  # the port was taken between the check and the launch
            if not is_port_error(exc):
                raise
            typer.secho(f"错误: {PortBusy(port)}", fg="red", err=True)
            raise typer.Exit(2) from exc
        except ToolkitError as exc:
            typer.secho(f"错误: {exc}", fg="red", err=True)
            raise typer.Exit(3) from exc


class PortBusy(ToolkitError):
    """The demo's port is already in use on 127.0.0.1."""

    def __init__(self, port: int):
        self.port = port
        super().__init__(
            f"端口 {port} 已被占用（可能已有一个 clinic demo 在运行）；请关闭它，或用 --port 换一个端口，"
            f"例如 clinic demo --port {port + 1}"
        )


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise :class:`PortBusy` when ``host:port`` cannot be bound (something already listens there)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortBusy(port) from exc


def is_port_error(exc: BaseException) -> bool:
    """Gradio reports a busy port as OSError ("Cannot find empty port …")."""
    text = str(exc).lower()
    return "port" in text or getattr(exc, "errno", None) in (98, 48, 10048)
