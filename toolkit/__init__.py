"""clinic-toolkit: voice-drafted outpatient records and prescription pre-audit for community clinics.

The audit core (``toolkit.records``, ``toolkit.knowledge``, ``toolkit.audit``,
``toolkit.batch``) imports without torch, transformers, faster-whisper or gradio.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clinic-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
