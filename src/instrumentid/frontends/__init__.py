"""Feature front-ends beyond the log-mel: MFCC, a constant-Q wavelet filterbank, multi-channel.

Each module defines a frozen config dataclass and a
:class:`~instrumentid.frontends.core.FeatureExtractor` mapping waveforms ``(batch, samples)`` (or
one waveform ``(samples,)``) to ``(batch, channels, bins, frames)``, and registers both in
:data:`instrumentid.frontends.core.FEATURES` (the one registry ``build_frontend`` and the bundle use).
They reuse the log-mel of :mod:`instrumentid.frontends.core` and the maths of :mod:`instrumentid.frontends.dsp`.
"""

from instrumentid.frontends import mfcc, multi, wavelet  # noqa: F401  (registers mfcc, multi, wavelet)
