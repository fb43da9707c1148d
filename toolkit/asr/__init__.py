"""Speech to text for Mandarin dictation (faster-whisper, offline).

``transcribe(audio, options) -> Transcript`` is the one entry point;
``transcribe_stream`` and :class:`LiveTranscriber` / ``transcribe_chunks`` give
partial results while the doctor speaks. Heavy imports (faster-whisper,
PyAV, OpenCC) happen on first use, not at import.
"""

from toolkit.asr.records import (
    AsrWarning,
    Correction,
    PartialTranscript,
    Transcript,
    TranscriptSegment,
    WarningCode,
)
from toolkit.asr.transcribe import (
    LiveTranscriber,
    PromptMode,
    TranscribeOptions,
    transcribe,
    transcribe_chunks,
    transcribe_events,
    transcribe_stream,
)

__all__ = [
    "AsrWarning",
    "Correction",
    "LiveTranscriber",
    "PartialTranscript",
    "PromptMode",
    "TranscribeOptions",
    "Transcript",
    "TranscriptSegment",
    "WarningCode",
    "transcribe",
    "transcribe_chunks",
    "transcribe_events",
    "transcribe_stream",
]
