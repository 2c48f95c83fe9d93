"""One error family for every user-facing failure; messages name the file or parameter."""

from __future__ import annotations


class InstrumentIdError(Exception):
    """Base class of every error instrumentid raises on purpose."""


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
