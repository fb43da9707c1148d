"""The clinic demo: a Chinese-language Gradio app on 127.0.0.1 (``clinic demo``).

A thin shell: each handler reads widget values, calls one function of
:mod:`toolkit.demo_api` (or a stage's verb) and puts the result back in widgets,
shaped by its siblings ``views.py`` and ``forms.py`` (imported as ``toolkit.demo_app.*``).
Offline by construction: analytics and hub calls are switched off before gradio
is imported, fonts are local (Noto Sans CJK SC from the OS), SSR (a Node server)
is off, and the page loads nothing from outside this machine (a browser test checks).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads these at import time. This is the demo process's own set-up of
# gradio's and huggingface_hub's switches (analytics, hub calls, SSR, sharing off), not a toolkit setting:
# the only environment write in the project, kept here in the entry module on purpose; the toolkit
# library reads and writes no environment variable (tests/unit/test_no_environment.py).
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
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402

from toolkit import demo_api as api  # noqa: E402
from toolkit.asr.edit import apply_corrections  # noqa: E402
from toolkit.demo_app import forms, views  # noqa: E402
from toolkit.errors import InputError, ToolkitError  # noqa: E402
from toolkit.records import RECORD_SECTIONS  # noqa: E402

log = logging.getLogger(__name__)

FONT_STACK = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "sans-serif"]
CSS = """
.gradio-container, .gradio-container *:not(code):not(pre) {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif;
}
.rx-cards small { color: #374151; }
.rx-grid { gap: 2px !important; }
.rx-row { gap: 2px !important; flex-wrap: nowrap !important; }
.rx-row.rx-hidden { display: none !important; }
.rx-head { display: flex; gap: 2px; font-weight: 600; font-size: 14px; }
.rx-head span { flex: 1 1 0; min-width: 60px; }
.rx-head span:first-child { flex: 3 1 0; }
"""
SAMPLE_AUDIO = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "examples", "dictation_dapt_nsaid.ogg"
)
"""The sample dictation (see demo/examples/README.md for its text and licence)."""
FORM_ROWS = 8
"""Drug lines on the 处方审核 form (a longer prescription goes through the JSON box)."""

KEYBOARD_JS = """
<script>
(() => {
  const ROWS = %(rows)d, COLS = %(cols)d;
  const row = (r) => document.getElementById("rx-row-" + r);
  const cell = (r, c) => document.querySelector("#rx-" + r + "-" + c + " input, #rx-" + r + "-" + c + " textarea");
  const filled = (r) => { for (let c = 0; c < COLS; c++) { const e = cell(r, c); if (e && e.value.trim()) return true; }
                          return false; };
  // show every row that holds a drug, and one empty row after the last of them
  window.rxShowFilledRows = () => setTimeout(() => {
    let last = -1;
    for (let r = 0; r < ROWS; r++) if (filled(r)) last = r;
    for (let r = 0; r < ROWS; r++) { const el = row(r); if (el) el.classList.toggle("rx-hidden", r > Math.max(last + 1, 0)); }
  }, 150);
  const where = (el) => { const m = el && el.closest("[id^=rx-]") && el.closest("[id^=rx-]").id.match(/^rx-(\\d+)-(\\d+)$/);
                          return m ? [Number(m[1]), Number(m[2])] : null; };
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || ev.isComposing) return;
    const run = document.getElementById("single-form-run");
    if ((ev.ctrlKey || ev.metaKey) && run && run.offsetParent !== null) {   // Ctrl+Enter on 处方审核: audit
      ev.preventDefault(); document.getElementById("single-form-run").click(); return;
    }
    const at = where(ev.target);
    if (!at || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();                                     // Enter in a drug line: a new line below it
    const next = Math.min(at[0] + 1, ROWS - 1);
    if (row(next)) row(next).classList.remove("rx-hidden");
    const target = cell(next, 0);
    if (target) setTimeout(() => target.focus(), 0);
  }, true);
  // every table here has a fixed set of columns: the cell menu offers rows only (no 添加列/删除列)
  // gradio titles every toast with its English type ("Error"): the titles a person reads are Chinese
  const TITLES = {Error: "无法完成", Warning: "请注意", Info: "提示", Success: "已完成"};
  new MutationObserver(() => {
    document.querySelectorAll(".cell-menu button").forEach((b) => {
      if (b.innerText.includes("列") && b.style.display !== "none") b.style.display = "none";
    });
    document.querySelectorAll(".toast-title").forEach((t) => {
      t.childNodes.forEach((n) => {
        const word = n.nodeType === 3 && n.textContent.trim();
        if (word && TITLES[word]) n.textContent = TITLES[word] + " ";
      });
    });
  }).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  const start = () => { if (row(0)) window.rxShowFilledRows(); else setTimeout(start, 200); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
</script>
"""

PHARMACIST_TYPED_LABEL = "审方药师（手填姓名：本演示未配置账号登录）"
PHARMACIST_LOGIN_LABEL = "审方药师（已登录账号）"

SEX_CHOICES = [("未填", ""), ("男", "M"), ("女", "F")]
CONFIRM_SLOTS = 4  # drug names to confirm shown at once (药名待确认); more are rare in one dictation
KIND_CHOICES = [("未填", ""), ("普通", "普通"), ("急诊", "急诊"), ("儿科", "儿科"), ("长期", "长期")]
LAB_FIELDS = (
    ("egfr", "eGFR (mL/min/1.73m²)"),
    ("potassium", "血钾 (mmol/L)"),
    ("alt", "ALT (U/L)"),
    ("hba1c", "HbA1c (%)"),
)

F = TypeVar("F", bound=Callable[..., Any])


FLAG_LEVELS = [
    ("全部", ""),
    ("拦截", "拦截"),
    ("警示", "警示"),
    ("提示", "提示"),
    ("无法审核", "无法审核"),
    ("需人工审核", "需人工审核"),
]


def _drug_header_html() -> str:
    return '<div class="rx-head">' + "".join(f"<span>{c}</span>" for c in api.ITEM_COLUMNS) + "</div>"


def _logged_in(request: gr.Request | None) -> str:
    """The account name when the demo runs with logins (``launch(users=FILE)``), else ''."""
    return (getattr(request, "username", None) or "") if request is not None else ""


def _fail(message: str) -> gr.Error:
    """A message for the user (Chinese title; not printed to the console, it may quote what was typed)."""
    return gr.Error(message, title="无法完成", print_exception=False)


def _message(exc: ToolkitError) -> str:
    return exc.reason if isinstance(exc, InputError) and not exc.file else str(exc)


AUDIO_UNREADABLE = (
    "无法读取这个文件：它不是可识别的录音。请上传 WAV、MP3、M4A、OGG 或 WebM 音频，或直接录音。"
)
UNEXPECTED = "处理时出现内部错误，未能完成；请重试，或把时间告诉管理员查看日志"


def _translate(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, ToolkitError):
        return _fail(_message(exc))
    log.error("demo handler failed: %s", type(exc).__name__, exc_info=exc)
    return _fail(UNEXPECTED)


def _shown(fn: F) -> F:
    """Show a toolkit error (bad input, missing extra) to the user in Chinese instead of a stack trace; any
    other failure is logged and shown as :data:`UNEXPECTED` (never gradio's English "Error")."""
    if _is_generator(fn):

        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # every failure reaches the user in Chinese
                raise _translate(exc) from exc

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _translate(exc) from exc

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
                live_state = gr.State(None)  # the recording in progress (toolkit.asr.live.LiveSession)
                draft_state = gr.State(None)
                with gr.Row():
                    h_name = gr.Textbox(label="姓名", elem_id="header-name")
                    h_sex = gr.Dropdown(SEX_CHOICES, value="", label="性别", elem_id="header-sex")
                    h_age = gr.Textbox(label="年龄（岁）", placeholder="按病历", elem_id="header-age")
                    h_dept = gr.Textbox(label="科别", value="全科", elem_id="header-dept")
                    h_date = gr.Textbox(label="日期", value=views.today(), elem_id="header-date")
                    h_doctor = gr.Textbox(label="医师", elem_id="header-doctor")
                with gr.Row():
                    with gr.Column(scale=2):
                        # two boxes: a streaming box shows no player, so files (upload, sample, the finished
                        # recording) go to one that plays them, and the microphone streams to the other
                        mic = gr.Audio(
                            sources=["microphone"],
                            type="filepath",
                            streaming=True,  # chunks reach on_live_chunk while the doctor speaks
                            label="录音（边说边出字，停止后自动生成病历）",
                            elem_id="voice-mic",
                        )
                        audio = gr.Audio(
                            sources=["upload"],
                            type="filepath",
                            label="上传录音文件（或录音完成后在此回放）",
                            elem_id="voice-audio",
                        )
                        with gr.Row():
                            sample_btn = gr.Button("载入示例录音（合成语音，13 秒）", elem_id="voice-sample")
                            run_btn = gr.Button("识别并生成病历", variant="primary", elem_id="voice-run")
                        transcript_box = gr.Textbox(
                            label="转写文本（可修改后重新生成）", lines=6, elem_id="voice-transcript"
                        )
                        corrections = gr.CheckboxGroup(
                            label="语音识别自动更正（取消勾选即恢复原文）",
                            choices=[],
                            elem_id="voice-corrections",
                        )
                        # low-confidence drug names: one click puts another close name (or the text as heard)
                        with gr.Group(visible=False, elem_id="voice-confirm") as confirm_box:
                            gr.Markdown("**药名待确认**：点选正确的药名，病历与处方随即按所选重新生成")
                            confirm_radios = [
                                gr.Radio(choices=[], visible=False, elem_id=f"voice-confirm-{k}")
                                for k in range(CONFIRM_SLOTS)
                            ]
                        confirm_keys = gr.State([])
                        asr_warnings = gr.Markdown(elem_id="voice-warnings")
                        redraft_btn = gr.Button("按转写文本重新生成病历", elem_id="voice-redraft")
                    with gr.Column(scale=3):
                        entities = gr.HighlightedText(
                            label="识别的实体",
                            color_map=views.ENTITY_COLOURS,
                            show_legend=True,
                            combine_adjacent=False,
                            elem_id="voice-entities",
                        )
                        section_boxes: dict[str, gr.Textbox] = {}
                        pairs = [RECORD_SECTIONS[i : i + 2] for i in range(0, len(RECORD_SECTIONS), 2)]
                        for pair in pairs:
                            with gr.Row():
                                for name in pair:
                                    section_boxes[name] = gr.Textbox(
                                        label=name, lines=2, elem_id=f"section-{RECORD_SECTIONS.index(name)}"
                                    )
                        facts = gr.Markdown(elem_id="voice-facts")
                        diagnoses = gr.Dataframe(
                            headers=list(views.DIAGNOSIS_COLUMNS),
                            label="诊断与 ICD-10 编码",
                            interactive=False,
                            type="array",
                            elem_id="voice-dx",
                        )
                        items = gr.Dataframe(
                            headers=list(api.ITEM_COLUMNS),
                            label="处方（可编辑）",
                            interactive=True,
                            type="array",
                            column_count=len(api.ITEM_COLUMNS),
                            elem_id="voice-items",
                        )
                        reaudit_btn = gr.Button("按修改后的病历与处方重新审核", elem_id="voice-reaudit")
                with gr.Row():
                    cards = gr.HTML(elem_id="voice-cards")
                    care = gr.HTML(elem_id="voice-care")
                with gr.Row():
                    json_file = gr.File(label="导出 JSON", elem_id="voice-json")
                    fhir_file = gr.File(label="导出 FHIR", elem_id="voice-fhir")
                    print_file = gr.File(label="打印：门诊病历与处方笺（HTML）", elem_id="voice-print")
                    with gr.Column():
                        queue_btn = gr.Button("送药师审核队列", elem_id="voice-queue")
                        queue_msg = gr.Markdown()

            # ------------------------------------------------------------ 处方审核
            with gr.Tab("处方审核", id="single"), gr.Row():
                with gr.Column(scale=3):
                    example_titles = [title for title, _case in forms.demo_examples()]
                    example_pick = gr.Dropdown(
                        example_titles,
                        label="示例处方（选中即填入表单）",
                        value=None,
                        elem_id="single-example",
                    )
                    with gr.Row():
                        f_id = gr.Textbox(label="处方号", value="处方-1", elem_id="single-id")
                        f_age = gr.Textbox(label="年龄（岁）", placeholder="未填", elem_id="single-age")
                        f_sex = gr.Dropdown(SEX_CHOICES, value="", label="性别", elem_id="single-sex")
                        f_weight = gr.Textbox(label="体重（kg）", placeholder="未填", elem_id="single-weight")
                    with gr.Row():
                        f_preg = gr.Checkbox(label="妊娠", elem_id="single-preg")
                        f_lact = gr.Checkbox(label="哺乳", elem_id="single-lact")
                        f_allergy = gr.Textbox(label="过敏史（如 青霉素；磺胺）", elem_id="single-allergy")
                        f_dx = gr.Textbox(
                            label="诊断（如 原发性高血压 I10；2型糖尿病 E11.9）", elem_id="single-dx"
                        )
                    with gr.Row():
                        f_labs = [
                            gr.Textbox(label=label, placeholder="未测", elem_id=f"single-lab-{key}")
                            for key, label in LAB_FIELDS
                        ]
                    with gr.Row():
                        f_kind = gr.Dropdown(KIND_CHOICES, value="", label="处方类型", elem_id="single-kind")
                        f_doctor = gr.Textbox(label="开方医师", elem_id="single-doctor")
                    gr.HTML(_drug_header_html(), elem_id="single-items-head")
                    f_cells: list[gr.Textbox] = []
                    with gr.Column(elem_id="single-items", elem_classes=["rx-grid"]):
                        for r in range(FORM_ROWS):
                            with gr.Row(elem_classes=["rx-row"], elem_id=f"rx-row-{r}", equal_height=True):
                                for c, column in enumerate(api.ITEM_COLUMNS):
                                    f_cells.append(
                                        gr.Textbox(
                                            label=f"第{r + 1}行{column}",
                                            show_label=False,
                                            placeholder=column,
                                            lines=1,
                                            max_lines=1,
                                            container=False,
                                            min_width=60,
                                            scale=3 if c == 0 else 1,
                                            elem_id=f"rx-{r}-{c}",
                                            elem_classes=["rx-cell"],
                                            html_attributes=gr.InputHTMLAttributes(
                                                autocomplete="off", enterkeyhint="next"
                                            ),
                                        )
                                    )
                    gr.Markdown(
                        "键盘：Tab 逐格移动；在药品行按 Enter 添加下一行；Ctrl+Enter 审核。"
                        f"表单最多 {FORM_ROWS} 行药品，更多请用下方“完整处方 JSON”。",
                        elem_id="single-keys",
                    )
                    with gr.Accordion(
                        "补充 JSON（可选，合并到表单）", open=False, elem_id="single-extra-box"
                    ):
                        f_extra = gr.Code(
                            label='如 {"patient": {"labs": {"scr": 120}}}',
                            language="json",
                            lines=3,
                            elem_id="single-extra",
                        )
                    with gr.Row():
                        to_queue = gr.Checkbox(
                            label="有问题时送药师审核队列", value=False, elem_id="single-queue"
                        )
                        form_btn = gr.Button(
                            "审核处方（Ctrl+Enter）", variant="primary", elem_id="single-form-run"
                        )
                with gr.Column(scale=2):
                    single_cards = gr.HTML(elem_id="single-cards")
                    with gr.Accordion("审核报告原文（JSON）", open=False, elem_id="single-report-box"):
                        single_report = gr.JSON(label="审核报告（JSON）", elem_id="single-report")
                    with gr.Accordion(
                        "或粘贴完整处方 JSON（AuditCase）", open=False, elem_id="single-json-box"
                    ):
                        json_box = gr.Code(
                            label="完整处方 JSON", language="json", lines=14, elem_id="single-json"
                        )
                        json_btn = gr.Button("审核 JSON 处方", elem_id="single-json-run")

            # ------------------------------------------------------------ 批量审方
            with gr.Tab("批量审方", id="batch"):
                batch_state = gr.State(None)
                batch_in = gr.File(
                    label="上传 HIS 导出文件（CSV / Excel / JSONL）",
                    file_types=[".csv", ".xlsx", ".jsonl", ".json", ".parquet"],
                    elem_id="batch-file",
                )
                batch_btn = gr.Button("开始审方", variant="primary", elem_id="batch-run")
                batch_charts = gr.HTML(elem_id="batch-charts")
                batch_table = gr.Dataframe(
                    headers=["医生", "处方数", "不合理处方", "无法审核", "不合理处方率(%)"],
                    label="按医生统计",
                    interactive=False,
                    type="array",
                    elem_id="batch-doctors",
                )
                with gr.Row():
                    flag_filter = gr.Textbox(label="筛选（处方号、医生或问题包含）", elem_id="batch-filter")
                    flag_level = gr.Dropdown(FLAG_LEVELS, value="", label="级别", elem_id="batch-level")
                with gr.Row():
                    with gr.Column(scale=3):
                        flagged_table = gr.Dataframe(
                            headers=list(views.FLAGGED_COLUMNS),
                            interactive=False,
                            label="需处理的处方（点选一行查看审核结果）",
                            type="array",
                            elem_id="batch-flagged",
                            max_height=420,
                        )
                    with gr.Column(scale=2):
                        batch_case = gr.HTML(elem_id="batch-case")
                error_table = gr.Dataframe(
                    headers=list(views.ERROR_COLUMNS),
                    interactive=False,
                    type="array",
                    label="错误行（无法读取或无法审核）",
                    elem_id="batch-errors",
                    max_height=300,
                )
                batch_files = gr.File(
                    label="下载报告（Excel / HTML）", file_count="multiple", elem_id="batch-out"
                )

            # ------------------------------------------------------------ 审方队列
            with gr.Tab("审方队列", id="queue"):
                refresh_btn = gr.Button("刷新队列", elem_id="queue-refresh")
                queue_table = gr.Dataframe(
                    headers=list(views.QUEUE_COLUMNS),
                    label="待审处方（按风险排序）",
                    interactive=False,
                    type="array",
                    elem_id="queue-table",
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        pick = gr.Dropdown(label="选择处方", choices=[], elem_id="queue-pick")
                        detail = gr.HTML(elem_id="queue-detail")
                    with gr.Column(scale=2):
                        target = gr.HTML(views.decision_target_html(store, ""), elem_id="queue-target")
                        pharmacist = gr.Textbox(label=PHARMACIST_TYPED_LABEL, elem_id="queue-pharmacist")
                        decision = gr.Radio(
                            [(v, k) for k, v in api.DECISIONS.items()],
                            value=None,
                            label="审核结论",
                            elem_id="queue-decision",
                        )
                        reason_code = gr.Dropdown(
                            views.override_reason_choices(),
                            value="",
                            label="标准理由（CDS Hooks overrideReasons）",
                            elem_id="queue-code",
                        )
                        reason = gr.Textbox(
                            label="理由说明（退回、双签、放行拦截必填：选标准理由或填写）",
                            lines=2,
                            elem_id="queue-reason",
                        )
                        prescriber = gr.Textbox(label="开方医师签名（双签必填）", elem_id="queue-prescriber")
                        decide_btn = gr.Button("提交", variant="primary", elem_id="queue-decide")
                        decide_msg = gr.Markdown(elem_id="queue-msg")

            # ------------------------------------------------------------ 审核记录
            with gr.Tab("审核记录", id="decisions"):
                with gr.Row():
                    d_since = gr.Textbox(label="起始日期", placeholder="如 2026-12-01", elem_id="dec-since")
                    d_until = gr.Textbox(label="截止日期", placeholder="如 2026-12-31", elem_id="dec-until")
                    d_person = gr.Textbox(label="药师或医师（包含）", elem_id="dec-person")
                    d_what = gr.Dropdown(
                        [("全部", ""), *[(v, k) for k, v in api.DECISIONS.items()]],
                        value="",
                        label="审核结论",
                        elem_id="dec-what",
                    )
                with gr.Row():
                    d_search = gr.Button("查询", variant="primary", elem_id="dec-search")
                    d_export = gr.Button("导出 CSV 与 Excel", elem_id="dec-export")
                d_table = gr.Dataframe(
                    headers=list(views.DECISION_COLUMNS),
                    interactive=False,
                    type="array",
                    label="审核决定（最新在前）",
                    elem_id="dec-table",
                )
                d_files = gr.File(label="导出文件", file_count="multiple", elem_id="dec-files")

        # ================================================================ handlers
        section_list = [section_boxes[n] for n in RECORD_SECTIONS]

        @_shown
        def on_transcribe(path: str | None) -> Iterator[tuple[Any, ...]]:
            if not path:
                raise _fail("请先录音或上传音频")
            from toolkit.asr import Transcript

            final = None
            try:
                for event in api.transcript_events(path):
                    if isinstance(event, Transcript):
                        final = event
                    else:
                        yield (
                            event.text + ("" if event.final else " …"),
                            gr.CheckboxGroup(choices=[], value=[]),
                            "识别中…",
                            None,
                        )
            except InputError as exc:  # not a sound file: say so without the server's temp path
                raise _fail(AUDIO_UNREADABLE) from exc
            assert final is not None
            choices = views.correction_choices(final)
            yield (
                final.text,
                gr.CheckboxGroup(choices=choices, value=[v for _, v in choices]),
                views.warnings_markdown(final),
                final,
            )

        @_shown
        def on_live_chunk(chunk: str | None, session: Any) -> tuple[Any, ...]:
            # returns at once: the chunk is decoded in the session's background thread
            session, text = api.live_feed(session, chunk)
            return text, session

        @_shown
        def on_live_start(session: Any) -> tuple[Any, ...]:
            return api.live_begin(session), views.LIVE_STATUS

        @_shown
        def on_live_stop(session: Any) -> tuple[Any, ...]:
            transcript, wav = api.live_finish(session, tempfile.mkdtemp(dir=export_root))
            choices = views.correction_choices(transcript)
            return (
                transcript.text,
                gr.CheckboxGroup(choices=choices, value=[v for _, v in choices]),
                views.warnings_markdown(transcript),
                transcript,
                str(wav) if wav else gr.skip(),  # the whole recording, to play back or 识别 again
                None,  # the next recording starts a new session
            )

        header_inputs = [h_name, h_sex, h_age, h_dept, h_date, h_doctor]

        def draft_outputs(draft: api.Draft, transcript: Any) -> tuple[Any, ...]:
            values = views.section_values(draft)
            out_dir = tempfile.mkdtemp(dir=export_root)
            json_path, fhir_path = api.export_draft(draft, out_dir, transcript)
            return (
                *[values[n] for n in RECORD_SECTIONS],
                views.highlight(draft.text, draft.dictated.entities),
                views.facts_markdown(draft),
                views.diagnosis_rows(draft.record),
                views.item_rows(draft.case.prescription.items),
                views.findings_html(draft.report),
                views.care_html(draft.plan),
                str(json_path),
                str(fhir_path) if fhir_path else None,
                str(views.export_print(draft, out_dir)),
                draft,
            )

        @_shown
        def on_draft(text: str, transcript: Any, *header: Any) -> tuple[Any, ...]:
            if not text or not text.strip():
                raise _fail("没有可用的转写文本")
            usable = transcript if transcript is not None and transcript.segments else None
            return draft_outputs(
                api.draft_record(text, transcript=usable, header=forms.header_from_form(*header)), transcript
            )

        @_shown
        def on_corrections(
            draft: api.Draft | None, transcript: Any, kept: list[int], table: list[list[Any]], *sections: str
        ) -> tuple[Any, ...]:
            if transcript is None:
                return gr.skip()
            text = apply_corrections(transcript, kept)
            if draft is None:
                return (text, *([gr.skip()] * (len(section_list) + 10)))
            new = api.toggle_corrections(
                draft, transcript, kept, dict(zip(RECORD_SECTIONS, sections, strict=True)), table or []
            )
            return (text, *draft_outputs(new, transcript))

        @_shown
        def on_reaudit(
            draft: api.Draft | None, transcript: Any, table: list[list[Any]], *fields: Any
        ) -> tuple[Any, ...]:
            if draft is None:
                raise _fail("请先生成病历")
            sections, header = fields[: len(RECORD_SECTIONS)], fields[len(RECORD_SECTIONS) :]
            new = api.redraft(
                draft,
                dict(zip(RECORD_SECTIONS, sections, strict=True)),
                table or [],
                header=forms.header_from_form(*header),
            )
            out_dir = tempfile.mkdtemp(dir=export_root)
            json_path, fhir_path = api.export_draft(new, out_dir, transcript)
            return (
                views.facts_markdown(new),
                views.diagnosis_rows(new.record),
                views.findings_html(new.report),
                views.care_html(new.plan),
                str(json_path),
                str(fhir_path) if fhir_path else None,
                str(views.export_print(new, out_dir)),
                new,
            )

        @_shown
        def on_voice_queue(draft: api.Draft | None) -> str:
            if draft is None:
                raise _fail("请先生成病历")
            audit_id = api.submit_for_review(store, draft.report, "demo-voice")
            return "审核通过，无需药师复核" if audit_id is None else f"已送审（审核编号 {audit_id[:8]}）"

        draft_out = [
            *section_list,
            entities,
            facts,
            diagnoses,
            items,
            cards,
            care,
            json_file,
            fhir_file,
            print_file,
            draft_state,
        ]
        draft_in = [transcript_box, transcript_state, *header_inputs]
        transcribed = run_btn.click(
            on_transcribe,
            [audio],
            [transcript_box, corrections, asr_warnings, transcript_state],
            api_name="transcribe",
        ).then(on_draft, draft_in, draft_out, api_name="draft_from_transcript")
        # the microphone streams 1 s chunks: the transcript box shows the text while the doctor speaks.
        # gradio keeps only the newest chunk of a stream while the handler runs, so the handler only queues
        # the chunk (decoding is in the session's thread) and chunks are 1 s, not 0.5: fewer round trips to
        # lose one on a busy computer (a loss is detected and shown, see toolkit.asr.live)
        mic.stream(
            on_live_chunk,
            [mic, live_state],
            [transcript_box, live_state],
            stream_every=1.0,
            time_limit=None,
            show_progress="hidden",
            api_name=False,
        )
        mic.start_recording(
            on_live_start, [live_state], [live_state, asr_warnings], show_progress="hidden", api_name=False
        )
        # when the recording stops only the uncommitted tail is decoded, then the record is drafted at once
        live_stopped = mic.stop_recording(
            on_live_stop,
            [live_state],
            [transcript_box, corrections, asr_warnings, transcript_state, audio, live_state],
            api_name=False,
        ).success(on_draft, draft_in, draft_out, api_name=False)
        # toggling a correction re-reads the dictation and puts the doctor's edits back on top
        toggled = corrections.input(
            on_corrections,
            [draft_state, transcript_state, corrections, items, *section_list],
            [transcript_box, *draft_out],
            api_name=False,
        )

        # 药名待确认: listed from the transcript and the ticked corrections, whichever path changed them
        def confirm_updates(transcript: Any, kept: list[int] | None) -> tuple[Any, ...]:
            shown = views.drug_confirmations(transcript, kept or [])[:CONFIRM_SLOTS]
            radios = [
                gr.Radio(choices=list(d.choices), value=d.value, label=d.label, visible=True) for d in shown
            ]
            radios += [
                gr.Radio(choices=[], value=None, visible=False) for _ in range(CONFIRM_SLOTS - len(shown))
            ]
            return (gr.Group(visible=bool(shown)), *radios, [d.key for d in shown])

        confirm_out = [confirm_box, *confirm_radios, confirm_keys]
        confirm_in = [transcript_state, corrections]
        # listed once the event that changed the transcript or the ticks has finished (.then), never from a
        # .change of one of the two while the other may still hold its previous value
        for chain in (transcribed, live_stopped, toggled):
            chain.then(confirm_updates, confirm_in, confirm_out, api_name=False)

        def confirm_handler(slot: int) -> Callable[..., tuple[Any, ...]]:
            @_shown
            def on_confirm(
                choice: str | None,
                keys: list[str],
                draft: api.Draft | None,
                transcript: Any,
                kept: list[int] | None,
                table: list[list[Any]],
                *sections: str,
            ) -> tuple[Any, ...]:
                if transcript is None or not choice or slot >= len(keys or []):
                    return gr.skip()
                new_t, keep, new = api.confirm_drug(
                    draft,
                    transcript,
                    kept or [],
                    keys[slot],
                    choice,
                    dict(zip(RECORD_SECTIONS, sections, strict=True)) if draft is not None else None,
                    (table or []) if draft is not None else None,
                )
                head = (
                    apply_corrections(new_t, keep),
                    gr.CheckboxGroup(choices=views.correction_choices(new_t), value=keep),
                    new_t,
                )
                if new is None:
                    return (*head, *([gr.skip()] * len(draft_out)))
                return (*head, *draft_outputs(new, new_t))

            return on_confirm

        for k, radio in enumerate(confirm_radios):
            radio.input(
                confirm_handler(k),
                [radio, confirm_keys, draft_state, transcript_state, corrections, items, *section_list],
                [transcript_box, corrections, transcript_state, *draft_out],
                api_name=False,
            ).then(confirm_updates, confirm_in, confirm_out, api_name=False)
        redraft_btn.click(on_draft, draft_in, draft_out, api_name="draft")
        reaudit_btn.click(
            on_reaudit,
            [draft_state, transcript_state, items, *section_list, *header_inputs],
            [facts, diagnoses, cards, care, json_file, fhir_file, print_file, draft_state],
            api_name=False,
        )
        queue_btn.click(on_voice_queue, [draft_state], [queue_msg], api_name=False)

        def on_sample() -> str:
            # a copy in this run's temp folder: gradio serves files from there, never from the checkout
            return shutil.copy(SAMPLE_AUDIO, tempfile.mkdtemp(dir=export_root))

        sample_btn.click(on_sample, None, [audio], api_name=False)

        # ------------------------------------------------------------ 处方审核 handlers
        # the form's fields in the order the handlers read and the examples fill them
        form_fields = [
            f_id,
            f_age,
            f_sex,
            f_weight,
            f_preg,
            f_lact,
            f_allergy,
            f_dx,
            *f_labs,
            f_kind,
            f_doctor,
            f_extra,
        ]
        form_inputs = [*form_fields, to_queue, *f_cells]

        @_shown
        def on_form(
            case_id: str,
            age: str,
            sex: str,
            weight: str,
            pregnant: bool,
            lactating: bool,
            allergies: str,
            dx: str,
            egfr: str,
            k: str,
            alt: str,
            hba1c: str,
            kind: str,
            doctor: str,
            extra: str,
            queue: bool,
            *cells: str,
        ) -> tuple[str, dict[str, Any]]:
            labs = dict(zip([key for key, _ in LAB_FIELDS], (egfr, k, alt, hba1c), strict=True))
            width = len(api.ITEM_COLUMNS)
            table = [list(cells[i : i + width]) for i in range(0, len(cells), width)]
            form = forms.PrescriptionForm(
                case_id=case_id,
                age=forms.parse_number(age, "年龄"),
                sex=sex,
                weight_kg=forms.parse_number(weight, "体重"),
                pregnant=pregnant,
                lactating=lactating,
                allergies=allergies or "",
                diagnoses=dx or "",
                labs={key: forms.parse_number(value, dict(LAB_FIELDS)[key]) for key, value in labs.items()},
                items=table,
                kind=kind,
                prescriber=doctor or "",
                extra_json=extra or "",
            )
            report = api.audit_case(forms.case_from_form(form))
            if queue:
                api.submit_for_review(store, report, "demo-form")
            return views.findings_html(report), report.to_json_dict()

        @_shown
        def on_json(text: str, queue: bool) -> tuple[str, dict[str, Any]]:
            if not text or not text.strip():
                raise _fail("请粘贴处方 JSON 或选择示例")
            report = api.audit_case(forms.case_from_json(text))
            if queue:
                api.submit_for_review(store, report, "demo-json")
            return views.findings_html(report), report.to_json_dict()

        def on_example(title: str | None) -> tuple[Any, ...]:
            case = next((c for t, c in forms.demo_examples() if t == title), None)
            if case is None:
                return tuple(gr.skip() for _ in example_outputs)
            v = forms.form_values(case)
            rows = [list(r) + [""] * (len(api.ITEM_COLUMNS) - len(r)) for r in v["items"]][:FORM_ROWS]
            rows += [[""] * len(api.ITEM_COLUMNS)] * (FORM_ROWS - len(rows))
            cells = [("" if x is None else str(x)) for r in rows for x in r]
            return (
                v["case_id"],
                str(v["age"]),
                v["sex"],
                str(v["weight"]),
                v["pregnant"],
                v["lactating"],
                v["allergies"],
                v["diagnoses"],
                *[str(x) for x in v["labs"]],
                v["kind"],
                v["prescriber"],
                v["extra"],
                *cells,
                case.model_dump_json(indent=2, exclude_none=True),
            )

        example_outputs = [*form_fields, *f_cells, json_box]
        form_btn.click(
            on_form,
            form_inputs,
            [single_cards, single_report],
            api_name="audit_form",
            show_progress_on=[single_cards],
        )
        json_btn.click(
            on_json,
            [json_box, to_queue],
            [single_cards, single_report],
            api_name="audit_json",
            show_progress_on=[single_cards],
        )
        example_pick.change(
            on_example, [example_pick], example_outputs, api_name=False, show_progress="hidden"
        ).then(None, None, None, js="() => window.rxShowFilledRows && window.rxShowFilledRows()")

        # ------------------------------------------------------------ 批量审方 handlers
        @_shown
        def on_batch(file: str | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
            if not file:
                raise _fail("请先上传文件")
            result = api.audit_file(
                file,
                tempfile.mkdtemp(dir=export_root),
                on_progress=lambda fraction, stage: progress(fraction, desc=stage),
            )
            return (
                views.batch_charts_html(result),
                views.doctor_rows(result),
                views.flagged_rows(result),
                views.error_rows(result),
                [str(result.excel), str(result.html)],
                result,
                "",
            )

        def on_filter(result: api.BatchResult | None, text: str, level: str) -> tuple[Any, ...]:
            if result is None:
                return [], []
            return views.flagged_rows(result, text, level), views.error_rows(result, text)

        def on_open(result: api.BatchResult | None, table: Any, evt: gr.SelectData) -> str:
            if result is None or evt.index is None:
                return ""
            row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
            data = table.values.tolist() if hasattr(table, "values") else table
            try:
                number = data[row][0]
            except (IndexError, TypeError):
                return ""
            return views.batch_case_html(result, number)

        batch_btn.click(
            on_batch,
            [batch_in],
            [batch_charts, batch_table, flagged_table, error_table, batch_files, batch_state, batch_case],
            api_name="audit_file",
            show_progress_on=[batch_charts],
        )
        flag_filter.change(
            on_filter,
            [batch_state, flag_filter, flag_level],
            [flagged_table, error_table],
            api_name=False,
            show_progress="hidden",
        )
        flag_level.change(
            on_filter,
            [batch_state, flag_filter, flag_level],
            [flagged_table, error_table],
            api_name=False,
            show_progress="hidden",
        )
        flagged_table.select(on_open, [batch_state, flagged_table], [batch_case], api_name=False)

        # ------------------------------------------------------------ 审方队列 handlers
        def on_refresh() -> tuple[Any, ...]:
            rows = views.queue_rows(store)
            choices = [(f"{r[1]} · {r[2]} · {r[4][:24]}", r[0]) for r in rows]
            return rows, gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

        def on_pick(audit_id: str | None, request: gr.Request) -> tuple[Any, ...]:
            # a new selection starts a new decision: nothing typed for the previous prescription stays
            who = _logged_in(request)
            return (
                views.queue_detail_html(store, audit_id or ""),
                views.decision_target_html(store, audit_id or ""),
                None,
                "",
                "",
                "",
                gr.Textbox(value=who, interactive=False, label=PHARMACIST_LOGIN_LABEL) if who else gr.skip(),
            )

        @_shown
        def on_decide(
            audit_id: str | None,
            who: str,
            what: str | None,
            code: str | None,
            why: str,
            signer: str,
            request: gr.Request,
        ) -> str:
            if not what:
                raise _fail("请选择审核结论")
            who = _logged_in(request) or who or ""
            return api.decide(
                store, audit_id or "", what, who, why or "", signer or "", reason_code=code or ""
            )

        refresh_btn.click(on_refresh, None, [queue_table, pick], api_name="queue")

        pick_out = [detail, target, decision, reason_code, reason, prescriber, pharmacist]
        # after a decision the next prescription is selected, and the form is cleared for it (never carried over)
        decide_btn.click(
            on_decide,
            [pick, pharmacist, decision, reason_code, reason, prescriber],
            [decide_msg],
            api_name="decide",
        ).success(on_refresh, None, [queue_table, pick], api_name=False).then(
            on_pick, [pick], pick_out, api_name=False, show_progress="hidden"
        )
        pick.change(on_pick, [pick], pick_out, api_name=False, show_progress="hidden")
        app.load(on_refresh, None, [queue_table, pick], api_name=False)

        # ------------------------------------------------------------ 审核记录 handlers
        @_shown
        def on_decisions(since: str, until: str, person: str, what: str) -> list[list[Any]]:
            return views.decision_rows(store, since=since, until=until, person=person, decision=what or "")

        @_shown
        def on_export(since: str, until: str, person: str, what: str) -> list[str]:
            rows = views.decision_rows(store, since=since, until=until, person=person, decision=what or "")
            return [str(p) for p in views.export_decisions(rows, tempfile.mkdtemp(dir=export_root))]

        d_inputs = [d_since, d_until, d_person, d_what]
        d_search.click(on_decisions, d_inputs, [d_table], api_name="decisions")
        d_export.click(on_export, d_inputs, [d_files], api_name="export_decisions")
    return app


def allowed_hosts(names: Iterable[str] = ()) -> tuple[str, ...] | None:
    """Host names the demo answers: loopback, plus ``names`` (each may list several, comma-separated;
    ``*``: any host, no check). ``clinic demo --allowed-host`` / ``CLINIC_DEMO_ALLOWED_HOSTS`` give them."""
    from toolkit.service.config import LOOPBACK_HOSTS

    extra = [h.strip().lower() for name in names for h in name.split(",") if h.strip()]
    if "*" in extra:
        return None
    return (*LOOPBACK_HOSTS, *extra)


class HostCheck:
    """ASGI guard against DNS rebinding: a request whose Host header is not allowed gets 421, in Chinese."""

    def __init__(self, app: Any, hosts: tuple[str, ...]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuse a request whose Host is not allowed (HTTP 421, websocket close 1008); pass on the rest."""
        if scope["type"] in ("http", "websocket"):
            from toolkit.service.config import host_allowed

            host = dict(scope.get("headers") or ()).get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.hosts):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = (
                    f"主机名“{host[:100]}”不在允许列表中（可用 clinic demo --allowed-host 或环境变量 "
                    "CLINIC_DEMO_ALLOWED_HOSTS 添加）"
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 421,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def load_users(path: str | os.PathLike[str] | None = None) -> dict[str, str] | None:
    """``用户名:sha256hex`` lines of the accounts file ``path`` (``clinic demo --users`` /
    ``CLINIC_DEMO_USERS``); None when there is none (no logins)."""
    if not path:
        return None
    users = {}
    for line in open(path, encoding="utf-8").read().splitlines():  # noqa: SIM115
        if line.strip() and not line.startswith("#") and ":" in line:
            name, digest = line.split(":", 1)
            users[name.strip()] = digest.strip().lower()
    return users


def _auth(users: dict[str, str]) -> Callable[[str, str], bool]:
    import hashlib
    import hmac

    def check(name: str, password: str) -> bool:
        digest = users.get(name)
        return digest is not None and hmac.compare_digest(
            digest, hashlib.sha256(password.encode()).hexdigest()
        )

    return check


def launch(
    app: gr.Blocks,
    port: int = 7860,
    *,
    block: bool = True,
    hosts: Iterable[str] = (),
    users: str | os.PathLike[str] | None = None,
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (never shared, no SSR, local fonts, Host allow-list of loopback
    plus ``hosts`` (:func:`allowed_hosts`), logins when ``users`` names an accounts file (:func:`load_users`:
    the 审方药师 of a decision is then the logged-in account, not a typed name)."""
    from starlette.middleware import Middleware

    theme = gr.themes.Default(font=FONT_STACK, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    host_list = allowed_hosts(hosts)
    accounts = load_users(users)
    app.queue(default_concurrency_limit=1).launch(
        server_name="127.0.0.1",
        server_port=port,
        share=False,
        inbrowser=False,
        ssr_mode=False,
        prevent_thread_lock=not block,
        theme=theme,
        css=CSS,
        footer_links=["api"],
        quiet=True,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        head=KEYBOARD_JS % {"rows": FORM_ROWS, "cols": len(api.ITEM_COLUMNS)},
        auth=_auth(accounts) if accounts else None,
        auth_message="请用审方药师账号登录" if accounts else None,
        app_kwargs=None if host_list is None else {"middleware": [Middleware(HostCheck, hosts=host_list)]},
    )


if __name__ == "__main__":  # a bare run for development: loopback only, no logins (see `clinic demo --help`)
    import sys

    launch(build_app(), int(sys.argv[1]) if len(sys.argv) > 1 else 7860)
