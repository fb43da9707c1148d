"""Issue 13: low-confidence drug names carry the close alternatives the corrector considered, and the
voice tab's 药名待确认 puts one with a click (re-drafting with the doctor's edits kept)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.test_asr_fakes import FakeModel, FakeSegment, fake_drug
from toolkit import demo_api as api
from toolkit.asr.correct import build_lexicon, find_corrections, find_uncertain
from toolkit.asr.edit import apply_corrections
from toolkit.asr.records import Correction, Transcript, TranscriptSegment, Uncertain
from toolkit.demo_app import views
from toolkit.errors import InputError

pytest.importorskip("pypinyin")


def _lex(*drugs):
    return build_lexicon(SimpleNamespace(version="t", drugs={d.id: d for d in drugs}))


def _cephalosporins():
    return _lex(
        fake_drug("cefaclor", "头孢克洛"), fake_drug("cefixime", "头孢克肟"), fake_drug("aml", "氨氯地平")
    )


# --------------------------------------------------------------------------- corrector


def test_a_homophone_with_two_close_drugs_carries_the_runner_up():
    lex = _cephalosporins()
    [m] = find_corrections("给予头包克肟100毫克每日两次", lex)
    assert (m.original, m.corrected, m.term_id) == ("头包克肟", "头孢克肟", "cefixime")
    assert m.alternatives == ("头孢克洛",)  # one syllable off: close, but the corrector's choice stands


def test_a_clear_homophone_has_no_alternatives():
    lex = _cephalosporins()
    [m] = find_corrections("给予安律地平5毫克每日一次", lex)
    assert (m.corrected, m.alternatives) == ("氨氯地平", ())
    lone = _lex(fake_drug("cefixime", "头孢克肟"))  # its sibling is not in the formulary: nothing to offer
    [m] = find_corrections("给予头包克肟100毫克每日两次", lone)
    assert (m.corrected, m.alternatives) == ("头孢克肟", ())


def test_a_near_tie_is_left_as_heard_and_listed_with_both_drugs():
    lex = _cephalosporins()
    text = "急性支气管炎，头包克过100毫克每日两次"
    matches = find_corrections(text, lex)
    assert matches == []  # the decision is unchanged: nothing replaced on sound alone
    [u] = find_uncertain(text, lex, matches)
    assert (u.offset, u.original) == (text.index("头包克过"), "头包克过")
    assert set(u.alternatives) == {"头孢克洛", "头孢克肟"} and len(u.alternatives) == 2
    assert (
        find_uncertain(
            "给予头包克肟100毫克每日两次", lex, find_corrections("给予头包克肟100毫克每日两次", lex)
        )
        == []
    )
    assert find_uncertain("急性支气管炎，每日两次", lex, []) == []


def test_the_transcript_carries_alternatives_and_near_ties_and_keeps_its_contract():
    pytest.importorskip("opencc")
    import numpy as np

    from toolkit.asr import TranscribeOptions, transcribe

    model = FakeModel(
        [FakeSegment(0.0, 3.0, "给予头包克肟100毫克每日两次"), FakeSegment(3.0, 6.0, "或头包克过100毫克")]
    )
    samples = np.random.default_rng(1).normal(0, 0.1, 6 * 16_000).astype(np.float32)
    t = transcribe(
        samples, TranscribeOptions(listen=False, alternatives=1), model=model, lexicon=_cephalosporins()
    )
    [c] = [c for c in t.corrections if c.kind == "drug"]
    assert (c.corrected, c.alternatives) == ("头孢克肟", ("头孢克洛",))
    [u] = t.uncertain
    assert t.text[u.offset : u.offset + len(u.original)] == "头包克过" and (u.start, u.end) == (3.0, 6.0)
    line = t.contract()
    assert list(line) == ["file", "text", "segments", "corrections", "warnings", "error"]
    assert line["corrections"][0]["alternatives"] == ["头孢克洛"]
    old = {k: v for k, v in line["corrections"][0].items() if k != "alternatives"}
    assert Correction.model_validate(old).alternatives == ()  # JSON written before issue 13 still reads


# --------------------------------------------------------------------------- 药名待确认 (demo_api)

TEXT = "急性咽炎。处理：头孢克洛0.25克每日三次，共七天，布洛芬缓释胶囊0.3克每日两次，共三天。"


def _transcript(text: str = TEXT, **kw) -> Transcript:
    return Transcript(text=text, segments=(TranscriptSegment(start=0, end=9, text=text),), **kw)


def _unsure() -> Correction:
    return Correction(
        original="头包克末",
        corrected="头孢克洛",
        start=0.0,
        end=9.0,
        offset=TEXT.index("头孢克洛"),
        kind="drug",
        term_id="cefaclor",
        reason="drug slot before a strength: pinyin 0.62",
        score=0.65,
        alternatives=("头孢克肟",),
    )


def test_drug_confirmations_list_current_name_alternatives_then_the_text_as_heard():
    t = _transcript(corrections=(_unsure(),))
    [d] = views.drug_confirmations(t, [0])
    assert d.key == "c0" and "头包克末" in d.label
    assert [v for _, v in d.choices] == ["头孢克洛", "头孢克肟", "头包克末"]
    assert d.choices[-1][0].startswith(views.KEEP_HEARD) and d.value == "头孢克洛"
    assert views.drug_confirmations(t, [])[0].value == "头包克末"  # unticked: the text reads as heard
    sure = _unsure().model_copy(update={"score": 0.95, "alternatives": ()})
    assert views.drug_confirmations(_transcript(corrections=(sure,)), [0]) == []


def test_confirming_an_alternative_redrafts_and_keeps_the_doctors_edits():
    pytest.importorskip("spacy")
    t = _transcript(corrections=(_unsure(),))
    draft = api.draft_record(TEXT, transcript=t)
    assert next(i.drug for i in draft.items) == "头孢克洛"
    sections = {**views.section_values(draft), "过敏史": "磺胺过敏"}
    rows = views.item_rows(draft.case.prescription.items)
    ibu = next(k for k, r in enumerate(rows) if "布洛芬" in str(r[0]))
    rows[ibu][6] = 2  # the doctor shortens ibuprofen to 2 days
    new_t, kept, new = api.confirm_drug(draft, t, [0], "c0", "头孢克肟", sections, rows)
    assert "头孢克肟0.25克" in new_t.text and new_t.text == apply_corrections(new_t, kept)
    c = new_t.corrections[0]
    assert (c.original, c.corrected, c.alternatives, c.score) == ("头包克末", "头孢克肟", ("头孢克洛",), 1.0)
    assert new is not None and next(i.drug for i in new.items) == "头孢克肟"
    assert new.sections["过敏史"] == "磺胺过敏" and new.case.patient.allergies == ("磺胺",)
    assert next(i.days for i in new.items if "布洛芬" in i.drug) == 2.0
    assert new.uncertain == ()  # confirmed by the doctor: no longer flagged
    # 保留原文: the correction is unticked, the name is gone from the table, the edits still stand
    back_t, kept, back = api.confirm_drug(
        new,
        new_t,
        kept,
        "c0",
        "头包克末",
        views.section_values(new),
        views.item_rows(new.case.prescription.items),
    )
    assert kept == [] and "头包克末" in back.text and "头孢克" not in back.text
    assert all("头孢" not in i.drug for i in back.items)
    assert (
        back.sections["过敏史"] == "磺胺过敏"
        and next(i.days for i in back.items if "布洛芬" in i.drug) == 2.0
    )
    # and the toggle still works on the confirmed transcript: ticking it again brings the doctor's choice
    again = api.toggle_corrections(
        back, back_t, [0], views.section_values(back), views.item_rows(back.case.prescription.items)
    )
    assert "头孢克肟" in [i.drug for i in again.items]  # the restored line (after the doctor's rows)
    assert next(i.days for i in again.items if "布洛芬" in i.drug) == 2.0


def test_picking_a_drug_for_a_near_tie_adds_a_correction_after_the_others():
    heard = TEXT.replace("头孢克洛", "头包克过")
    other = Correction(
        original="步洛芬",
        corrected="布洛芬",
        start=0,
        end=9,
        offset=heard.index("布洛芬"),
        kind="drug",
        reason="x",
        score=0.95,
    )
    u = Uncertain(
        original="头包克过",
        start=0,
        end=9,
        offset=heard.index("头包克过"),
        alternatives=("头孢克洛", "头孢克肟"),
        score=0.9,
    )
    t = _transcript(heard, corrections=(other,), uncertain=(u,))
    [d] = views.drug_confirmations(t, [0])
    assert (
        d.key == "u0"
        and [v for _, v in d.choices] == ["头孢克洛", "头孢克肟", "头包克过"]
        and d.value == "头包克过"
    )
    new_t, kept, none = api.confirm_drug(None, t, [0], "u0", "头孢克肟")
    assert none is None and new_t.uncertain == () and kept == [0, 1]
    assert new_t.corrections[0] == other  # indices of the ticked corrections stay valid
    added = new_t.corrections[1]
    assert (added.original, added.corrected, added.alternatives) == ("头包克过", "头孢克肟", ("头孢克洛",))
    assert new_t.text == heard.replace("头包克过", "头孢克肟") == apply_corrections(new_t, kept)
    assert apply_corrections(new_t, [0]) == heard  # unticking it restores the text as heard
    [d] = views.drug_confirmations(new_t, kept)
    assert d.key == "c1" and d.value == "头孢克肟" and "已确认" in d.label
    with pytest.raises(InputError):
        api.confirm_drug(None, t, [0], "u7", "头孢克肟")


def test_a_longer_or_shorter_name_moves_the_later_offsets():
    seg = (
        TranscriptSegment(start=0, end=4, text="甲：头包克过0.1克。"),
        TranscriptSegment(start=4, end=8, text="乙：氨氯地平5毫克。"),
    )
    later = Correction(
        original="安律地平",
        corrected="氨氯地平",
        start=4,
        end=8,
        offset=13,
        kind="drug",
        reason="x",
        score=0.8,
        alternatives=("氨力农",),
    )
    text = "甲：头包克过0.1克。乙：氨氯地平5毫克。"
    u = Uncertain(
        original="头包克过", start=0, end=4, offset=2, alternatives=("头孢克洛", "头孢克洛钠"), score=0.9
    )
    t = Transcript(text=text, segments=seg, corrections=(later,), uncertain=(u,))
    new_t, _kept, _ = api.confirm_drug(None, t, [0], "u0", "头孢克洛钠")  # one character longer
    assert new_t.corrections[0].offset == 14 and new_t.text[14:18] == "氨氯地平"
    assert "".join(s.text for s in new_t.segments) == new_t.text
    assert apply_corrections(new_t, []) == "甲：头包克过0.1克。乙：安律地平5毫克。"
    with pytest.raises(InputError):  # only a name that was offered
        api.confirm_drug(None, t, [0], "u0", "阿司匹林")
