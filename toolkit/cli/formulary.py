"""``clinic formulary map|apply``: match the clinic's HIS drug catalogue to the knowledge base once (药品字典配对)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from toolkit.cli._zh import error_message
from toolkit.errors import ToolkitError


def _fail(exc: Exception) -> None:
    typer.secho(f"错误: {error_message(exc)}", fg="red", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add the ``formulary`` group (``map``, ``apply``: 药品字典配对) to ``app``."""
    formulary_app = typer.Typer(
        help="药品字典配对: 把本机构HIS药品目录与审方知识库对应一次。", no_args_is_help=True
    )
    app.add_typer(formulary_app, name="formulary")

    @formulary_app.command("map")
    def map_cmd(
        catalogue: Path = typer.Argument(
            ...,
            metavar="目录文件",
            help="HIS药品目录 (CSV UTF-8/GBK, Excel, Parquet): 药品编码 通用名 商品名 规格 剂型 厂家 单位",
        ),
        output: Path = typer.Option(
            ..., "-o", "--output", metavar="审核表", help="配对审核表 (.xlsx 或 .csv)，药师在其中确认或更正"
        ),
        rules_dir: Path | None = typer.Option(
            None, "--rules", metavar="目录", help="知识库目录 (默认: 随包知识库)"
        ),
        summary: Path | None = typer.Option(None, "--summary", metavar="文件", help="覆盖统计另存为 JSON"),
    ) -> None:
        """为目录中每个药品建议知识库药品与剂型（匹配方式与可信度），标出未收录的药品，写出供药师审核的表。"""
        from toolkit.batch.catalogue import coverage_summary, propose, read_catalogue, write_review_sheet
        from toolkit.knowledge.loader import load_knowledge

        try:
            kb = load_knowledge(rules_dir)
            proposals = propose(read_catalogue(catalogue), kb)
            write_review_sheet(proposals, kb, output, source=catalogue.name)
        except (ToolkitError, OSError) as exc:
            _fail(exc)
        s = coverage_summary(proposals, kb)
        if summary:
            summary.write_text(json.dumps(s, ensure_ascii=False, indent=1), encoding="utf-8")
        lv = s["levels"]
        sure = sum(p.confidence == "高" for p in proposals)
        typer.echo(
            f"目录 {s['rows']} 行：完整审核 {lv['full']['rows']} ({lv['full']['share']:.1%})，"
            f"仅类别规则 {lv['class']['rows']} ({lv['class']['share']:.1%})，"
            f"未收录 {lv['none']['rows']} ({lv['none']['share']:.1%})；高可信度配对 {sure} 行已预先确认，"
            f"其余请在“确认(是/否)”列中确认。审核表：{output}",
            err=True,
        )

    @formulary_app.command("apply")
    def apply_cmd(
        sheet: Path = typer.Argument(..., metavar="审核表", help="药师确认后的配对审核表 (.xlsx 或 .csv)"),
        output: Path = typer.Option(
            ...,
            "-o",
            "--output",
            metavar="字典文件",
            help="药品字典文件 (.yaml 或 .json)，放在本机构 local 规则目录",
        ),
        institution: str = typer.Option(
            "", "--institution", metavar="机构名", help="本机构名称（写入药品字典）"
        ),
        rules_dir: Path | None = typer.Option(
            None, "--rules", metavar="目录", help="知识库目录 (默认: 随包知识库)"
        ),
    ) -> None:
        """把确认后的审核表转成药品字典（药品编码 → 知识库药品ID），加载时校验。"""
        from toolkit.batch.catalogue import apply_review_sheet
        from toolkit.knowledge.dictionary import dump_dictionary
        from toolkit.knowledge.loader import load_knowledge

        try:
            kb = load_knowledge(rules_dir)
            d, warnings = apply_review_sheet(sheet, kb, institution=institution)
            dump_dictionary(d, output)
        except (ToolkitError, OSError) as exc:
            _fail(exc)
        for w in warnings:
            typer.secho(f"提示: {w}", fg="yellow", err=True)
        mapped = sum(e.drug is not None for e in d.entries.values())
        typer.echo(
            f"药品字典：{len(d.entries)} 个药品编码（{mapped} 个配对到知识库药品，"
            f"{len(d.entries) - mapped} 个确认未收录）→ {output}\n"
            f"在本机构 local 规则文件中加入  drug_dictionary: {output.name}  后用 --local 加载。",
            err=True,
        )
        sys.stderr.flush()
