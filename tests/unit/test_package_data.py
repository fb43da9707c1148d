"""The installed package carries the whole knowledge base: every file the loaders read under rules/ matches a
`[tool.setuptools.package-data]` pattern (a wheel for Spark executors once lacked the reimbursement-list CSV
that name safety reads)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_rules_file_ships_in_the_package() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["toolkit"]
    missing = []
    for path in (ROOT / "rules").rglob("*"):
        if not path.is_file() or path.suffix not in {".yaml", ".csv", ".md"}:
            continue
        rel = "rules/" + path.relative_to(ROOT / "rules").as_posix()
        # setuptools globs: '*' does not cross '/'
        if not any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns):
            missing.append(rel)
    assert missing == [], f"not shipped in the wheel: {missing}"
