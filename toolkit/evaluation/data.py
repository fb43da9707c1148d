"""Where the labelled samples are: one rule for the CLI (``clinic eval …``) and the scripts in ``eval/``.

* **The repository's ``eval/data/``.** :func:`eval_data` names ``<repository>/eval/data/<name>``, the
  repository being the directory that holds the ``toolkit`` package in a source checkout (the
  project is installed with ``pip install -e``). It does not depend on the working directory. The
  labelled samples are not shipped in the wheel: when they are absent, :func:`eval_data` raises
  :class:`~toolkit.errors.InputError` naming the path it looked at.
* **An explicit path.** Every command and script also takes the file or directory as an argument
  (``clinic eval audit FILE``, ``--gold``, ``--data`` …); a given path is used as given.
* **Corpora outside the repository** (the shared NER corpora and speech clips, ``../shared/data``)
  are read only through their own option (``clinic eval extract --shared``, ``clinic eval asr
  --data``, the scripts' ``--shared``), whose default, :data:`SHARED_DATA`, is relative to the
  working directory as the commands' help says; a missing corpus is skipped and reported, never
  looked for elsewhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from toolkit.errors import InputError

__all__ = ["SHARED_DATA", "eval_data", "repository_root"]

SHARED_DATA = Path("../shared/data")
"""Default of the ``--shared`` options: the shared corpora next to the checkout, relative to the working
directory (run the commands from the repository root)."""


def repository_root() -> Path:
    """The source checkout holding the ``toolkit`` package (its parent directory)."""
    return Path(str(resources.files("toolkit"))).resolve().parent


def eval_data(name: str | Path = "", *, must_exist: bool = True) -> Path:
    """``<repository>/eval/data/<name>``, given relative to the working directory when it lies under it
    (so reports name ``eval/data/x.jsonl`` when run from the repository root) and absolute otherwise.

    Raises :class:`InputError` naming the path when ``must_exist`` and it is absent (an installed wheel
    has no ``eval/data``: pass the file's path instead).
    """
    path = repository_root() / "eval" / "data" / name
    if must_exist and not path.exists():
        raise InputError("file not found", file=str(path))
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path
