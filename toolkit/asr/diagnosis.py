"""Diagnosis slots: the words right after 诊断, matched against the common primary-care diagnoses.

After 诊断 a doctor says diagnosis names and nothing else, so there a name is corrected more freely
than elsewhere (where a disease word must be a true homophone): every syllable equal or a merged
confusion (极性未言 → 急性胃炎, 疾性化浓性便逃体验 → 急性化脓性扁桃体炎), or, in names of three or
more characters, one syllable half heard (same initial or final) and the others exact, when the name
is the whole item between 诊断 and a comma (施民证 → 失眠症; 腰肌筋膜炎 is not 结膜炎). The names are part 1 of ``rules/lexicon/diagnoses.yaml`` (the common diagnoses written by
hand with the forms doctors dictate; the 30,000 names derived from CMeKG are too many to guess
between). A name must be clearly closer than any other name of another diagnosis.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from toolkit.asr.lexicon import CJK_RUN, default_lexicon_path
from toolkit.asr.phonetic import pinyin_syllables, syllable_similarity
from toolkit.asr.windows import Match, Scored

_AFTER_DIAGNOSIS = re.compile(r"诊断[：:，,\s]*")
_CLAUSE_END = re.compile(r"[。；;！？!?]|处理|治疗|建议|$")
_MARGIN = 0.1


@lru_cache(maxsize=4)
def diagnosis_names(path: str | None = None) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(name, ICD-10 code, toneless pinyin) of the hand-written diagnoses, 2+ Chinese characters."""
    file = Path(path) if path else default_lexicon_path().with_name("diagnoses.yaml")
    if not file.is_file():
        return ()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return ()
    out = []
    for entry in data.get("diagnoses") or ():
        if not isinstance(entry, dict):
            continue
        for name in entry.get("names") or ():
            if isinstance(name, str) and len(name) >= 2 and CJK_RUN.fullmatch(name):
                out.append((name, str(entry.get("icd10", "")), pinyin_syllables(name)[0]))
    return tuple(out)


def diagnosis_candidates(text: str, protected: list[bool] | None = None) -> list[Scored]:
    """Diagnosis names heard as other characters in the clause after 诊断 (see the module docstring);
    ``protected``: characters of ``text`` inside a known term spelt right (a drug name), left alone."""
    names = diagnosis_names()
    if not names:
        return []
    known = {n for n, _, _ in names}
    out: list[Scored] = []
    for cue in _AFTER_DIAGNOSIS.finditer(text):
        start = cue.end()
        end = _CLAUSE_END.search(text, start).start()
        for run in CJK_RUN.finditer(text, start, end):
            seg = run.group()
            if seg in known:
                continue
            plain = pinyin_syllables(seg)[0]
            spelt = [False] * len(seg)  # characters of a diagnosis already spelt right: left alone
            for m in known:
                k = seg.find(m)
                while k >= 0:
                    spelt[k : k + len(m)] = [True] * len(m)
                    k = seg.find(m, k + 1)
            for i in range(len(seg)):
                ranked: list[tuple[float, str, str, int]] = []
                for name, code, py in names:
                    n = len(name)
                    if n < 3 or i + n > len(seg) or any(spelt[i : i + n]):
                        continue
                    if protected is not None and any(protected[run.start() + i : run.start() + i + n]):
                        continue
                    sims = [syllable_similarity(a, b) for a, b in zip(plain[i : i + n], py, strict=True)]
                    exact = sum(1 for x in sims if x == 1.0)
                    loose = [x for x in sims if x < 0.8]
                    if loose and not (
                        len(loose) == 1 and loose[0] >= 0.4 and exact == n - 1 and i == 0 and n == len(seg)
                    ):
                        continue  # a syllable half heard: only in a whole item (诊断施民证，)
                    ranked.append((sum(sims) / n, name, code, n))
                if not ranked:
                    continue
                ranked.sort(key=lambda r: (r[0], r[3]), reverse=True)
                py_best, name, code, n = ranked[0]
                rival = next((r for r in ranked[1:] if r[2] != code), None)
                if rival is not None and py_best - rival[0] < _MARGIN:
                    continue
                window = seg[i : i + n]
                offset = run.start() + i
                out.append(
                    (
                        (round(py_best, 3), n, 0.8),
                        Match(
                            offset,
                            window,
                            name,
                            "disease",
                            None,
                            round(0.6 * py_best + 0.2, 3),
                            f"diagnosis after 诊断: pinyin {py_best:.2f}",
                        ),
                    )
                )
    return out
