"""One error family for every user-facing failure; messages name the file or parameter.

Messages say what is wrong in plain words, for a caller of the Python API as much as for the
command line: no ``--flag`` spellings. An error about one parameter also names it as
``option`` (the keyword argument or config field, e.g. ``"val_data"``); the CLI adds its flag
(``--val-data``) as a hint.
"""

from __future__ import annotations


class InstrumentIdError(Exception):
    """Base class of every error instrumentid raises on purpose."""

    def __init__(self, *args: object, option: str | None = None) -> None:
        super().__init__(*args)
        #: the parameter at fault (keyword argument or config field), if the error is about one
        self.option = option


class AudioError(InstrumentIdError):
    """A file could not be used as audio: missing, corrupt, empty, non-finite or unsupported."""


class BundleError(InstrumentIdError):
    """A model bundle is missing, tampered, incomplete or from a newer format."""


class DataError(InstrumentIdError):
    """A dataset (IRMAS folder, CSV, labels file) is malformed."""


class ConfigError(InstrumentIdError):
    """A configuration value is invalid."""


class SynthError(InstrumentIdError):
    """Dataset rendering cannot run: no SoundFont, no FluidSynth, or a bad synth option."""


class ExportError(InstrumentIdError):
    """A model cannot be exported, or the exported graph does not compute what the bundle does."""


class MissingExtraError(ConfigError):
    """An optional dependency is not installed; the message names the pip extra that installs it."""
