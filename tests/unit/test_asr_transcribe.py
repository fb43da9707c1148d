"""transcribe / transcribe_stream / LiveTranscriber with a fake model: the contract, options, corrections."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from tests.unit.test_asr_fakes import FakeModel, FakeSegment, fake_lexicon
from toolkit.asr import LiveTranscriber, TranscribeOptions, transcribe, transcribe_chunks, transcribe_stream

pytest.importorskip("opencc")
SR = 16_000


def _speechlike(seconds: float) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 0.1, int(seconds * SR)).astype(np.float32)


SEGMENTS = [
    FakeSegment(0.0, 2.5, "診斷圓發信高血壓"),
    FakeSegment(2.5, 6.0, "給予本黃酸安律地平片5毫克,每日一次"),
]


def test_transcript_is_simplified_corrected_and_traceable():
    model = FakeModel(SEGMENTS)
    t = transcribe(_speechlike(6.0), model=model, lexicon=fake_lexicon())
    assert t.text == "诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次"
    assert [s.text for s in t.segments] == ["诊断原发性高血压", "给予苯磺酸氨氯地平片5毫克，每日一次"]
    assert [(s.start, s.end) for s in t.segments] == [(0.0, 2.5), (2.5, 6.0)]
    by_original = {c.original: c for c in t.corrections}
    assert set(by_original) == {"圆发信高血压", "本黄酸安律地平"}
    for c in t.corrections:  # offsets point at the corrected text in the transcript
        assert t.text[c.offset : c.offset + len(c.corrected)] == c.corrected
    drug = by_original["本黄酸安律地平"]
    assert (drug.start, drug.end, drug.term_id, drug.kind) == (2.5, 6.0, "amlodipine", "drug")
    assert t.warnings == () and t.model == "fake" and t.duration == 6.0


def test_default_options_reach_the_model():
    model = FakeModel(SEGMENTS)
    transcribe(_speechlike(6.0), model=model, lexicon=fake_lexicon())
    call = model.calls[0]
    assert call["language"] == "zh" and call["beam_size"] == 5 and call["vad_filter"] is True
    assert call["initial_prompt"] is None and call["hotwords"] is None
    assert call["condition_on_previous_text"] is False and call["samples"] == 6 * SR


def test_correction_can_be_switched_off():
    t = transcribe(
        _speechlike(6.0), TranscribeOptions(correct=False), model=FakeModel(SEGMENTS), lexicon=fake_lexicon()
    )
    assert "安律地平" in t.text and t.corrections == ()


def test_jsonl_contract_keys_are_stable():
    t = transcribe(_speechlike(6.0), model=FakeModel(SEGMENTS), lexicon=fake_lexicon())
    line = t.contract()
    assert list(line) == ["file", "text", "segments", "corrections", "warnings", "error"]
    assert list(line["segments"][0]) == ["start", "end", "text"]
    assert {"original", "corrected", "start", "end", "reason", "score"} <= set(line["corrections"][0])


def test_stream_yields_growing_partials_then_final():
    parts = list(transcribe_stream(_speechlike(6.0), model=FakeModel(SEGMENTS), lexicon=fake_lexicon()))
    assert [len(p.committed) for p in parts] == [1, 2, 2]
    assert [p.final for p in parts] == [False, False, True]
    assert parts[-1].text == "诊断原发性高血压，给予苯磺酸氨氯地平片5毫克，每日一次"


class BufferModel:
    """Fake model that 'hears' one segment per 2 s of buffer (times relative to the buffer)."""

    label = "buffer-fake"

    def __init__(self):
        self.calls = 0

    def transcribe(self, audio, **kwargs):
        from types import SimpleNamespace

        self.calls += 1
        n = int(len(audio) / SR // 2)
        segs = [FakeSegment(2.0 * i, 2.0 * i + 2.0, f"第{i}段") for i in range(n)]
        return iter(segs), SimpleNamespace(language="zh")


def test_live_transcriber_commits_stable_segments_and_finishes():
    model = BufferModel()
    live = LiveTranscriber(model=model, lexicon=fake_lexicon(), step_seconds=2.0, stable_margin=1.0)
    audio = _speechlike(8.0)
    partials = [live.feed(audio[i : i + SR]) for i in range(0, audio.size, SR)]
    made = [p for p in partials if p is not None]
    assert len(made) == 4 and model.calls == 4
    assert all(len(a.committed) <= len(b.committed) for a, b in pairwise(made))
    assert made[-1].tentative  # the newest segment is still tentative
    result = live.finish()
    assert result.text and result.segments[0].start == 0.0
    assert all(a.end <= b.start + 1e-6 for a, b in pairwise(result.segments))


def test_transcribe_chunks_on_silence_invents_nothing():
    chunks = [np.zeros(SR, np.float32) for _ in range(6)]
    parts = list(
        transcribe_chunks(chunks, model=FakeModel([FakeSegment(0, 2, "患者头晕")]), lexicon=fake_lexicon())
    )
    assert parts[-1].final and parts[-1].text == ""
    assert any(w.code == "no_speech" for w in parts[-1].warnings)


def test_offsets_follow_corrections_that_change_the_length():
    model = FakeModel([FakeSegment(0.0, 4.0, "阿托伐他20毫克每晚一次，阿卡伯糖50好课")])
    t = transcribe(_speechlike(4.0), model=model, lexicon=fake_lexicon())
    assert t.text == "阿托伐他汀20毫克每晚一次，阿卡波糖50毫克"
    assert {c.original: c.corrected for c in t.corrections} == {
        "阿托伐他": "阿托伐他汀",
        "阿卡伯糖": "阿卡波糖",
        "好课": "毫克",
    }
    for c in t.corrections:
        assert t.text[c.offset : c.offset + len(c.corrected)] == c.corrected


def test_a_segment_whose_drug_name_is_lost_is_reread_from_whispers_other_hypotheses(monkeypatch):
    from toolkit.asr import model as asr_model

    asked = []

    def alternatives(model, samples, language, n):
        asked.append((samples.size, n))
        return ["加用非常好的200毫克每日一次", "加用阿卡波糖五十毫克每日三次", "加用阿卡波糖50毫克每日三次"]

    monkeypatch.setattr(asr_model, "whisper_alternatives", alternatives)
    model = FakeModel([FakeSegment(0.0, 3.0, "加用啊开不太五十毫克每日三次")])  # beyond correction
    t = transcribe(_speechlike(3.0), model=model, lexicon=fake_lexicon())
    assert t.text == "加用阿卡波糖五十毫克每日三次"  # the best hypothesis that names a drug there
    (c,) = t.corrections
    assert (c.kind, c.original, c.corrected, c.offset) == (
        "segment",
        "加用啊开不太五十毫克每日三次",
        t.text,
        0,
    )
    assert "hypothesis 2" in c.reason and asked and asked[0][1] == 5


def test_no_reread_when_the_drug_was_heard_or_nothing_better_is_found(monkeypatch):
    from toolkit.asr import model as asr_model

    calls = []
    monkeypatch.setattr(
        asr_model,
        "whisper_alternatives",
        lambda *a: calls.append(a) or ["加用啊开不太五十毫克", "加用那个五十毫克"],
    )
    heard = transcribe(
        _speechlike(3.0),
        model=FakeModel([FakeSegment(0.0, 3.0, "阿卡伯糖五十毫克每日三次")]),
        lexicon=fake_lexicon(),
    )
    assert heard.text == "阿卡波糖五十毫克每日三次" and calls == []  # corrected, nothing to re-read
    lost = transcribe(
        _speechlike(3.0),
        model=FakeModel([FakeSegment(0.0, 3.0, "加用啊开不太五十毫克")]),
        lexicon=fake_lexicon(),
    )
    assert lost.text == "加用啊开不太五十毫克" and lost.corrections == () and len(calls) == 1
    off = transcribe(
        _speechlike(3.0),
        TranscribeOptions(alternatives=0),
        model=FakeModel([FakeSegment(0.0, 3.0, "加用啊开不太五十毫克")]),
        lexicon=fake_lexicon(),
    )
    assert off.text == "加用啊开不太五十毫克" and len(calls) == 1


def test_a_hypothesis_that_merely_loses_the_strength_is_not_taken(monkeypatch):
    from toolkit.asr import model as asr_model

    monkeypatch.setattr(
        asr_model, "whisper_alternatives", lambda *a: ["头包克末0.25克每日三次", "头包刻目0.25刻每日三次"]
    )
    t = transcribe(
        _speechlike(3.0),
        model=FakeModel([FakeSegment(0.0, 3.0, "头包克末0.25克每日三次")]),
        lexicon=fake_lexicon(),
    )
    assert t.text == "头包克末0.25克每日三次" and t.corrections == ()


# --- drug names that sound alike on paper, chosen by ear -----------------------------------------


def _cephalosporins():
    from types import SimpleNamespace

    from tests.unit.test_asr_fakes import fake_drug
    from toolkit.asr.correct import build_lexicon

    drugs = [
        fake_drug("cefaclor", "头孢克洛"),
        fake_drug("cefixime", "头孢克肟"),
        fake_drug("ibuprofen", "布洛芬"),
    ]
    return build_lexicon(SimpleNamespace(version="test+0", drugs={d.id: d for d in drugs}))


def _scores(table):
    """A stand-in for Whisper's likelihood of each reading: the text as heard comes first, the others
    are looked up by the drug they name (-1000 for any other reading, e.g. a rival from drugs_extra)."""

    def score(model, samples, texts, language):
        return [table["heard"]] + [next((v for k, v in table.items() if k in t), -1000.0) for t in texts[1:]]

    return score


HEARD = "急性咽炎，头包克末0.25克，每日三次"


def test_the_drug_whisper_finds_most_likely_is_chosen_and_said_why(monkeypatch):
    from toolkit.asr import model as asr_model

    monkeypatch.setattr(
        asr_model, "whisper_text_scores", _scores({"头孢克洛": -100.9, "头孢克肟": -106.1, "heard": -90.5})
    )
    t = transcribe(
        _speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, HEARD)]), lexicon=_cephalosporins()
    )
    assert t.text == "急性咽炎，头孢克洛0.25克，每日三次"
    (c,) = [c for c in t.corrections if c.kind == "drug"]
    assert (c.original, c.corrected, c.term_id) == ("头包克末", "头孢克洛", "cefaclor")
    assert (
        "audio: 5.2 nats over the next drug, -10.4 nats against" in c.reason
        and t.text[c.offset : c.offset + 4] == "头孢克洛"
    )
    assert t.options["listen"] is True


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"头孢克洛": -37.6, "头孢克肟": -39.4, "heard": -22.0}, "the audio cannot tell the siblings apart"),
        (
            {"头孢克洛": -80.0, "头孢克肟": -95.0, "heard": -30.0},
            "no room for the name: 50 nats lost for two characters changed",
        ),
    ],
)
def test_no_drug_is_chosen_when_the_audio_does_not_settle_it(monkeypatch, table, why):
    from toolkit.asr import model as asr_model

    monkeypatch.setattr(asr_model, "whisper_text_scores", _scores(table))
    t = transcribe(
        _speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, HEARD)]), lexicon=_cephalosporins()
    )
    assert "头包克末" in t.text, why
    assert [c for c in t.corrections if c.kind == "drug"] == []


def test_listening_is_not_asked_when_the_name_was_heard_or_when_off(monkeypatch):
    from toolkit.asr import model as asr_model

    asked = []
    monkeypatch.setattr(asr_model, "whisper_text_scores", lambda *a: asked.append(a[2]) or [0.0] * len(a[2]))
    lex = _cephalosporins()
    transcribe(
        _speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, "头孢克洛0.25克，每日三次")]), lexicon=lex
    )
    assert asked == []
    off = transcribe(
        _speechlike(3.0),
        TranscribeOptions(listen=False),
        model=FakeModel([FakeSegment(0.0, 3.0, HEARD)]),
        lexicon=lex,
    )
    assert asked == [] and off.text == HEARD


def _lexicon(*drugs):
    from types import SimpleNamespace

    from toolkit.asr.correct import build_lexicon

    return build_lexicon(SimpleNamespace(version="test+0", drugs={d.id: d for d in drugs}))


def test_a_combination_heard_in_part_is_completed_when_the_audio_agrees(monkeypatch):
    from tests.unit.test_asr_fakes import fake_drug
    from toolkit.asr import model as asr_model

    lex = _lexicon(
        fake_drug("budesonide", "布地奈德"),
        fake_drug("formoterol", "福莫特罗"),
        fake_drug("budesonide_formoterol", "布地奈德福莫特罗"),
    )
    heard = "支气管哮喘，布地奈德福末顿罗粉吸入剂每次两吸"
    monkeypatch.setattr(
        asr_model, "whisper_text_scores", _scores({"布地奈德福莫特罗": -73.9, "heard": -77.2})
    )
    t = transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex)
    assert t.text == "支气管哮喘，布地奈德福莫特罗粉吸入剂每次两吸"
    (c,) = [c for c in t.corrections if c.kind == "drug"]
    assert c.term_id == "budesonide_formoterol" and "longer drug name holding 布地奈德" in c.reason
    monkeypatch.setattr(
        asr_model, "whisper_text_scores", _scores({"布地奈德福莫特罗": -120.0, "heard": -77.2})
    )
    t = transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex)
    assert t.text == heard  # 43 nats less likely for two characters changed: not what was said


def test_a_slot_candidate_never_replaces_a_name_the_text_corrector_already_made(monkeypatch):
    from tests.unit.test_asr_fakes import fake_drug
    from toolkit.asr import model as asr_model

    lex = _lexicon(fake_drug("atorvastatin", "阿托伐他汀", salts=("阿托伐他汀钙",)))
    monkeypatch.setattr(asr_model, "whisper_text_scores", lambda m, s, texts, lang: [0.0] * len(texts))
    t = transcribe(
        _speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, "阿托把他听改为40毫克")]), lexicon=lex
    )
    assert t.text == "阿托伐他汀改为40毫克"  # not 阿托伐他汀钙40毫克: 改为 is a verb


def test_a_drug_outside_the_formulary_that_sounds_as_close_must_lose_too(monkeypatch):
    from tests.unit.test_asr_fakes import fake_drug
    from toolkit.asr import model as asr_model

    lex = _lexicon(fake_drug("erythromycin", "红霉素"), fake_drug("erythromycin_ointment", "红霉素软膏"))
    lex.other_drugs = frozenset({"红霉素眼膏"})
    heard = "内眼角红肿，抹了点红梅素眼膏，每日两次"
    scores = {"红霉素眼膏": -75.0, "红霉素软膏": -82.1, "heard": -70.8}
    monkeypatch.setattr(asr_model, "whisper_text_scores", _scores(scores))
    t = transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex)
    assert "软膏" not in t.text  # the eye ointment we cannot audit is not turned into the skin one
    scores["红霉素眼膏"] = -95.0  # the audio rules it out: the formulary name is taken
    t = transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex)
    assert "红霉素软膏" in t.text


def test_a_name_whose_first_syllable_was_heard_as_another_must_beat_the_text_heard(monkeypatch):
    from tests.unit.test_asr_fakes import fake_drug
    from toolkit.asr import model as asr_model

    lex = _lexicon(fake_drug("mosapride", "莫沙必利"))
    heard = "建议口服西沙比例，每日三次"  # 西沙比利 (cisapride) is not 莫沙必利
    monkeypatch.setattr(asr_model, "whisper_text_scores", _scores({"莫沙必利": -93.3, "heard": -68.6}))
    assert (
        transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex).text
        == heard
    )
    monkeypatch.setattr(asr_model, "whisper_text_scores", _scores({"莫沙必利": -60.0, "heard": -68.6}))
    t = transcribe(_speechlike(3.0), model=FakeModel([FakeSegment(0.0, 3.0, heard)]), lexicon=lex)
    assert t.text == "建议口服莫沙必利，每日三次"
