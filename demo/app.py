"""The clinic demo: a Chinese-language Gradio app on 127.0.0.1 (``clinic demo``).

A thin shell: each handler reads widget values, calls one function of
:mod:`toolkit.demo_api` (or a stage's verb) and puts the result back in widgets.
Offline by construction: analytics and hub calls are switched off before gradio
is imported, fonts are local (Noto Sans CJK SC from the OS), SSR (a Node server)
is off, and the page loads nothing from outside this machine (a browser test checks).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads these at import time.
for _key, _value in {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_TELEMETRY_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "GRADIO_SSR_MODE": "False",
    "GRADIO_SHARE": "False",
}.items():
    os.environ[_key] = _value

import functools  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402

from toolkit import demo_api as api  # noqa: E402
from toolkit.errors import InputError, ToolkitError  # noqa: E402
from toolkit.records import RECORD_SECTIONS  # noqa: E402

log = logging.getLogger(__name__)

FONT_STACK = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "sans-serif"]
CSS = """
.gradio-container, .gradio-container *:not(code):not(pre) {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif;
}
.rx-cards small { color: #374151; }
"""
SEX_CHOICES = [("未填", ""), ("男", "M"), ("女", "F")]
KIND_CHOICES = [("未填", ""), ("普通", "普通"), ("急诊", "急诊"), ("儿科", "儿科"), ("长期", "长期")]
LAB_FIELDS = (("egfr", "eGFR (mL/min/1.73m²)"), ("potassium", "血钾 (mmol/L)"), ("alt", "ALT (U/L)"),
              ("hba1c", "HbA1c (%)"))

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> gr.Error:
    """A message for the user (Chinese title; not printed to the console, it may quote what was typed)."""
    return gr.Error(message, title="无法完成", print_exception=False)


def _message(exc: ToolkitError) -> str:
    return exc.reason if isinstance(exc, InputError) and not exc.file else str(exc)


def _shown(fn: F) -> F:
    """Show a toolkit error (bad input, missing extra) to the user instead of a stack trace."""
    if _is_generator(fn):
        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except ToolkitError as exc:
                raise _fail(_message(exc)) from exc
        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ToolkitError as exc:
            raise _fail(_message(exc)) from exc
    return call  # type: ignore[return-value]


def _is_generator(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.isgeneratorfunction(fn)


def build_app(db_url: str = "sqlite:///./clinic.db", *, warm: bool = True) -> gr.Blocks:
    """The Blocks app. ``warm`` builds the knowledge base, spaCy pipeline and Whisper model now."""
    if warm:
        log.info("ready: %s", ", ".join(api.warm_up()))
    store = api.open_store(db_url)
    export_root = tempfile.mkdtemp(prefix="clinic-demo-")

    with gr.Blocks(title="社区门诊 语音病历与处方前置审核", analytics_enabled=False) as app:
        gr.Markdown("## 社区门诊 语音病历与处方前置审核\n本机离线运行，病历与处方不离开这台电脑。")
        with gr.Tabs():
            # ------------------------------------------------------------ 语音病历
            with gr.Tab("语音病历", id="voice"):
                transcript_state = gr.State(None)
                draft_state = gr.State(None)
                with gr.Row():
                    with gr.Column(scale=2):
                        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="录音或上传音频",
                                         elem_id="voice-audio")
                        run_btn = gr.Button("识别并生成病历", variant="primary", elem_id="voice-run")
                        transcript_box = gr.Textbox(label="转写文本（可修改后重新生成）", lines=6,
                                                    elem_id="voice-transcript")
                        corrections = gr.CheckboxGroup(label="语音识别自动更正（取消勾选即恢复原文）", choices=[],
                                                       elem_id="voice-corrections")
                        asr_warnings = gr.Markdown(elem_id="voice-warnings")
                        redraft_btn = gr.Button("按转写文本重新生成病历", elem_id="voice-redraft")
                    with gr.Column(scale=3):
                        entities = gr.HighlightedText(label="识别的实体", color_map=api.ENTITY_COLOURS,
                                                      show_legend=True, combine_adjacent=False,
                                                      elem_id="voice-entities")
                        section_boxes: dict[str, gr.Textbox] = {}
                        pairs = [RECORD_SECTIONS[i:i + 2] for i in range(0, len(RECORD_SECTIONS), 2)]
                        for pair in pairs:
                            with gr.Row():
                                for name in pair:
                                    section_boxes[name] = gr.Textbox(label=name, lines=2,
                                                                     elem_id=f"section-{RECORD_SECTIONS.index(name)}")
                        diagnoses = gr.Dataframe(headers=list(api.DIAGNOSIS_COLUMNS), label="诊断与 ICD-10 编码",
                                                 interactive=False, type="array", elem_id="voice-dx")
                        items = gr.Dataframe(headers=list(api.ITEM_COLUMNS), label="处方（可编辑）",
                                             interactive=True, type="array", column_count=len(api.ITEM_COLUMNS),
                                             elem_id="voice-items")
                        reaudit_btn = gr.Button("按修改后的病历与处方重新审核", elem_id="voice-reaudit")
                with gr.Row():
                    cards = gr.HTML(elem_id="voice-cards")
                    care = gr.HTML(elem_id="voice-care")
                with gr.Row():
                    json_file = gr.File(label="导出 JSON", elem_id="voice-json")
                    fhir_file = gr.File(label="导出 FHIR", elem_id="voice-fhir")
                    with gr.Column():
                        queue_btn = gr.Button("送药师审核队列", elem_id="voice-queue")
                        queue_msg = gr.Markdown()

            # ------------------------------------------------------------ 处方审核
            with gr.Tab("处方审核", id="single"):
                with gr.Row():
                    with gr.Column(scale=3):
                        with gr.Row():
                            f_id = gr.Textbox(label="处方号", value="处方-1")
                            f_age = gr.Textbox(label="年龄（岁）", placeholder="未填")
                            f_sex = gr.Dropdown(SEX_CHOICES, value="", label="性别")
                            f_weight = gr.Textbox(label="体重（kg）", placeholder="未填")
                        with gr.Row():
                            f_preg = gr.Checkbox(label="妊娠")
                            f_lact = gr.Checkbox(label="哺乳")
                            f_allergy = gr.Textbox(label="过敏史（如 青霉素；磺胺）")
                            f_dx = gr.Textbox(label="诊断（如 原发性高血压 I10；2型糖尿病 E11.9）")
                        with gr.Row():
                            f_labs = [gr.Textbox(label=label, placeholder="未测") for _key, label in LAB_FIELDS]
                        with gr.Row():
                            f_kind = gr.Dropdown(KIND_CHOICES, value="", label="处方类型")
                            f_doctor = gr.Textbox(label="开方医师")
                        f_items = gr.Dataframe(headers=list(api.ITEM_COLUMNS), label="药品", interactive=True,
                                               type="array", column_count=len(api.ITEM_COLUMNS),
                                               value=[["", "", "", "", "", "", "", ""]], elem_id="single-items")
                        f_extra = gr.Code(label="补充 JSON（可选，合并到表单，如 {\"patient\": {\"labs\": {\"scr\": 120}}}）",
                                          language="json", lines=3)
                        form_btn = gr.Button("审核表单处方", variant="primary", elem_id="single-form-run")
                    with gr.Column(scale=2):
                        examples = api.example_cases()
                        example_pick = gr.Dropdown([c.id for c in examples], label="示例处方", value=None)
                        json_box = gr.Code(label="或粘贴完整处方 JSON（AuditCase）", language="json", lines=14,
                                           elem_id="single-json")
                        to_queue = gr.Checkbox(label="有问题时送药师审核队列", value=False)
                        json_btn = gr.Button("审核 JSON 处方", variant="primary", elem_id="single-json-run")
                single_cards = gr.HTML(elem_id="single-cards")
                single_report = gr.JSON(label="审核报告（JSON）")

            # ------------------------------------------------------------ 批量审方
            with gr.Tab("批量审方", id="batch"):
                batch_in = gr.File(label="上传 HIS 导出文件（CSV / Excel / JSONL）",
                                   file_types=[".csv", ".xlsx", ".jsonl", ".json", ".parquet"], elem_id="batch-file")
                batch_btn = gr.Button("开始审方", variant="primary", elem_id="batch-run")
                batch_charts = gr.HTML(elem_id="batch-charts")
                batch_table = gr.Dataframe(headers=["医生", "处方数", "不合理处方", "无法审核", "不合理处方率(%)"],
                                           label="按医生统计", interactive=False, type="array")
                batch_files = gr.File(label="下载报告（Excel / HTML）", file_count="multiple", elem_id="batch-out")

            # ------------------------------------------------------------ 审方队列
            with gr.Tab("审方队列", id="queue"):
                refresh_btn = gr.Button("刷新队列", elem_id="queue-refresh")
                queue_table = gr.Dataframe(headers=list(api.QUEUE_COLUMNS), label="待审处方（按风险排序）",
                                           interactive=False, type="array", elem_id="queue-table")
                with gr.Row():
                    with gr.Column(scale=3):
                        pick = gr.Dropdown(label="选择处方", choices=[], elem_id="queue-pick")
                        detail = gr.HTML()
                    with gr.Column(scale=2):
                        pharmacist = gr.Textbox(label="审方药师")
                        decision = gr.Radio([(v, k) for k, v in api.DECISIONS.items()], value="pass", label="审核结论")
                        reason = gr.Textbox(label="理由（退回、双签必填）", lines=2)
                        prescriber = gr.Textbox(label="开方医师签名（双签必填）")
                        decide_btn = gr.Button("提交", variant="primary", elem_id="queue-decide")
                        decide_msg = gr.Markdown()

        # ================================================================ handlers
        section_list = [section_boxes[n] for n in RECORD_SECTIONS]

        @_shown
        def on_transcribe(path: str | None) -> Iterator[tuple[Any, ...]]:
            if not path:
                raise _fail("请先录音或上传音频")
            from toolkit.asr import Transcript

            final = None
            for event in api.transcript_events(path):
                if isinstance(event, Transcript):
                    final = event
                else:
                    yield (event.text + ("" if event.final else " …"), gr.CheckboxGroup(choices=[], value=[]),
                           "识别中…", None)
            assert final is not None
            choices = api.correction_choices(final)
            yield (final.text, gr.CheckboxGroup(choices=choices, value=[v for _, v in choices]),
                   api.warnings_markdown(final), final)

        def draft_outputs(draft: api.Draft, transcript: Any) -> tuple[Any, ...]:
            values = api.section_values(draft)
            json_path, fhir_path = api.export_draft(draft, tempfile.mkdtemp(dir=export_root), transcript)
            return (*[values[n] for n in RECORD_SECTIONS], api.highlight(draft.text, draft.record.entities),
                    api.diagnosis_rows(draft.record), api.item_rows(draft.case.prescription.items),
                    api.findings_html(draft.report), api.care_html(draft.plan), str(json_path),
                    str(fhir_path) if fhir_path else None, draft)

        @_shown
        def on_draft(text: str, transcript: Any) -> tuple[Any, ...]:
            if not text or not text.strip():
                raise _fail("没有可用的转写文本")
            return draft_outputs(api.draft_record(text), transcript)

        @_shown
        def on_corrections(transcript: Any, kept: list[int]) -> str:
            if transcript is None:
                return gr.skip()
            return api.apply_corrections(transcript, kept)

        @_shown
        def on_reaudit(draft: api.Draft | None, transcript: Any, table: list[list[Any]], *sections: str
                       ) -> tuple[Any, ...]:
            if draft is None:
                raise _fail("请先生成病历")
            new = api.redraft(draft, dict(zip(RECORD_SECTIONS, sections, strict=True)), table or [])
            json_path, fhir_path = api.export_draft(new, tempfile.mkdtemp(dir=export_root), transcript)
            return (api.findings_html(new.report), api.care_html(new.plan), str(json_path),
                    str(fhir_path) if fhir_path else None, new)

        @_shown
        def on_voice_queue(draft: api.Draft | None) -> str:
            if draft is None:
                raise _fail("请先生成病历")
            audit_id = api.submit_for_review(store, draft.report, "demo-voice")
            return "审核通过，无需药师复核" if audit_id is None else f"已送审（审核编号 {audit_id[:8]}）"

        draft_out = [*section_list, entities, diagnoses, items, cards, care, json_file, fhir_file, draft_state]
        run_btn.click(on_transcribe, [audio], [transcript_box, corrections, asr_warnings, transcript_state],
                      api_name="transcribe").then(
            on_draft, [transcript_box, transcript_state], draft_out, api_name="draft_from_transcript")
        # a finished microphone recording is transcribed at once (no extra click for the doctor)
        audio.stop_recording(on_transcribe, [audio], [transcript_box, corrections, asr_warnings, transcript_state],
                             api_name=False).then(
            on_draft, [transcript_box, transcript_state], draft_out, api_name=False)
        corrections.input(on_corrections, [transcript_state, corrections], [transcript_box]).then(
            on_draft, [transcript_box, transcript_state], draft_out, api_name=False)
        redraft_btn.click(on_draft, [transcript_box, transcript_state], draft_out, api_name="draft")
        reaudit_btn.click(on_reaudit, [draft_state, transcript_state, items, *section_list],
                          [cards, care, json_file, fhir_file, draft_state], api_name=False)
        queue_btn.click(on_voice_queue, [draft_state], [queue_msg], api_name=False)

        @_shown
        def on_form(case_id: str, age: str, sex: str, weight: str, pregnant: bool, lactating: bool,
                    allergies: str, dx: str, egfr: str, k: str, alt: str, hba1c: str, kind: str, doctor: str,
                    table: list[list[Any]], extra: str, queue: bool) -> tuple[str, dict[str, Any]]:
            labs = dict(zip([key for key, _ in LAB_FIELDS], (egfr, k, alt, hba1c), strict=True))
            form = api.PrescriptionForm(
                case_id=case_id, age=api.parse_number(age, "年龄"), sex=sex,
                weight_kg=api.parse_number(weight, "体重"), pregnant=pregnant, lactating=lactating,
                allergies=allergies or "", diagnoses=dx or "",
                labs={key: api.parse_number(value, dict(LAB_FIELDS)[key]) for key, value in labs.items()},
                items=table or [], kind=kind, prescriber=doctor or "", extra_json=extra or "")
            report = api.audit_case(api.case_from_form(form))
            if queue:
                api.submit_for_review(store, report, "demo-form")
            return api.findings_html(report), report.to_json_dict()

        @_shown
        def on_json(text: str, queue: bool) -> tuple[str, dict[str, Any]]:
            if not text or not text.strip():
                raise _fail("请粘贴处方 JSON 或选择示例")
            report = api.audit_case(api.case_from_json(text))
            if queue:
                api.submit_for_review(store, report, "demo-json")
            return api.findings_html(report), report.to_json_dict()

        def on_example(case_id: str | None) -> str:
            case = next((c for c in examples if c.id == case_id), None)
            return "" if case is None else case.model_dump_json(indent=2, exclude_none=True)

        form_btn.click(on_form, [f_id, f_age, f_sex, f_weight, f_preg, f_lact, f_allergy, f_dx, *f_labs, f_kind,
                                 f_doctor, f_items, f_extra, to_queue], [single_cards, single_report],
                       api_name="audit_form")
        json_btn.click(on_json, [json_box, to_queue], [single_cards, single_report], api_name="audit_json")
        example_pick.change(on_example, [example_pick], [json_box], api_name=False)

        @_shown
        def on_batch(file: str | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
            if not file:
                raise _fail("请先上传文件")
            progress(0, desc="读取文件…")
            result = api.audit_file(file, tempfile.mkdtemp(dir=export_root),
                                    on_progress=lambda done, total: progress((done, total), desc="审方中",
                                                                             unit="张处方"))
            return api.batch_charts_html(result), api.doctor_rows(result), [str(result.excel), str(result.html)]

        batch_btn.click(on_batch, [batch_in], [batch_charts, batch_table, batch_files], api_name="audit_file")

        def on_refresh() -> tuple[Any, ...]:
            rows = api.queue_rows(store)
            choices = [(f"{r[1]} · {r[2]} · {r[4][:24]}", r[0]) for r in rows]
            return rows, gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

        def on_pick(audit_id: str | None) -> str:
            return api.queue_detail_html(store, audit_id or "")

        @_shown
        def on_decide(audit_id: str | None, who: str, what: str, why: str, signer: str) -> str:
            return api.decide(store, audit_id or "", what, who or "", why or "", signer or "")

        refresh_btn.click(on_refresh, None, [queue_table, pick], api_name="queue")
        pick.change(on_pick, [pick], [detail], api_name=False)
        decide_btn.click(on_decide, [pick, pharmacist, decision, reason, prescriber], [decide_msg],
                         api_name="decide").then(on_refresh, None, [queue_table, pick], api_name=False)
        app.load(on_refresh, None, [queue_table, pick], api_name=False)
    return app


def launch(app: gr.Blocks, port: int = 7860, *, block: bool = True) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (never shared, no SSR, local fonts)."""
    theme = gr.themes.Default(font=FONT_STACK, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    app.queue(default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=port, share=False, inbrowser=False, ssr_mode=False,
        prevent_thread_lock=not block, theme=theme, css=CSS, footer_links=["api"], quiet=True,
        enable_monitoring=False, mcp_server=False, pwa=False)


if __name__ == "__main__":
    import sys

    launch(build_app(), int(sys.argv[1]) if len(sys.argv) > 1 else 7860)
