"""How close is the synthetic singing voice to real singing? (``python -m instrumentid.synth.measure``)

Method: every clip (first 3 s, mono, 22.05 kHz) becomes a timbre vector — mean and standard
deviation of MFCC 1-13 (40 mel bands up to 8 kHz), mean/std of the spectral centroid and the
mean spectral flatness. Vectors are z-scored over all real clips. Then, for the synthetic
voice and for baselines (General MIDI "Choir Aahs"/"Voice Oohs", and the other synthetic
classes), we report the mean distance to the real ``voi`` clips of ``shared/data/real-train``
and the share of clips whose nearest real-class centroid is ``voi`` (nearest-centroid over the
real classes available: flu, gac, gel, pia, sax, voi and negatives). Everything is compared dry
(no room, no mix), as most real references are dry solo recordings.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.fft import dct

from instrumentid import audio
from instrumentid.frontends.dsp import mel_filterbank

SR = 22050
_N_FFT, _HOP, _N_MELS = 1024, 256, 40
#: 40 HTK-scale triangles (unnormalised) from 30 Hz to 8 kHz
_MEL = mel_filterbank(sample_rate=SR, n_fft=_N_FFT, n_mels=_N_MELS, fmin=30.0, fmax=8000.0, htk=True, norm=False)


def timbre_vector(waveform: np.ndarray) -> np.ndarray:
    """17-dim timbre summary of a mono 22.05 kHz signal (see module docstring)."""
    x = waveform / (np.abs(waveform).max() + 1e-9)
    n = 1 + (x.size - _N_FFT) // _HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, _N_FFT)[::_HOP][:n] * np.hanning(_N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    power = power[energy > energy.max() * 1e-3]  # voiced/active frames only
    mfcc = dct(np.log(power @ _MEL.T + 1e-10), type=2, norm="ortho", axis=1)[:, 1:14]
    freqs = np.fft.rfftfreq(_N_FFT, 1 / SR)
    centroid = (power @ freqs) / (power.sum(axis=1) + 1e-12) / 1000
    flatness = np.exp(np.mean(np.log(power + 1e-12), axis=1)) / (power.mean(axis=1) + 1e-12)
    return np.concatenate([mfcc.mean(0), mfcc.std(0), [centroid.mean(), centroid.std(), flatness.mean()]])


def _real_clips(shared_data: Path, per_class: int, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Timbre vectors of single-label real clips. Karaoke-style stereo files (iKala, MIR-1K:
    accompaniment on one channel, voice on the other) contribute their voice channel only, so
    the ``voi`` references are (nearly) dry singing like the other real references."""
    root = Path(shared_data) / "real-train"
    groups: dict[str, list[str]] = {}
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            labels = row["labels"].split(";") if row["labels"] else ["neg"]
            if len(labels) == 1:
                groups.setdefault(labels[0], []).append(row["path"])
    out: dict[str, list[np.ndarray]] = {}
    for code, paths in groups.items():
        chosen = rng.choice(paths, size=min(per_class, len(paths)), replace=False)
        out[code] = []
        for rel in chosen:
            stereo_voice = code == "voi" and ("iKala" in rel or "mir_1k" in rel)
            wave, _ = audio.load(root / rel, sample_rate=SR, mono=not stereo_voice)
            if stereo_voice:
                wave = wave[1] if wave.ndim == 2 else wave
            out[code].append(timbre_vector(wave[: 3 * SR]))
    return out


def voice_similarity(shared_data: str | Path, *, soundfonts=None, n_clips: int = 12, seed: int = 0) -> dict:
    """Distances of synthetic voice (and baselines) to real singing; see module docstring."""
    from instrumentid.synth.mix import Engine
    from instrumentid.synth.music import make_song
    from instrumentid.synth.parts import make_part
    from instrumentid.synth.soundfonts import require_soundfonts
    from instrumentid.synth.voice import sing

    rng = np.random.default_rng(seed)
    real = _real_clips(Path(shared_data), 10, rng)
    all_real = np.array([v for vs in real.values() for v in vs])
    mu, sd = all_real.mean(0), all_real.std(0) + 1e-9
    z = lambda v: (np.asarray(v) - mu) / sd  # noqa: E731
    centroids = {c: z(vs).mean(0) for c, vs in real.items()}
    voi_real = z(real["voi"])

    engine = Engine(require_soundfonts(soundfonts), None, 44100)
    candidates: dict[str, list[np.ndarray]] = {"voice synth": [], "GM choir/voice oohs 52/53": []}
    others = ("flu", "sax", "cla", "tru", "vio", "org")
    for code in others:
        candidates[f"GM {code}"] = []
    for i in range(n_clips):
        r = np.random.default_rng(seed * 1000 + i)
        song = make_song(str(r.choice(["pop_roc", "cou_fol", "jaz_blu", "cla"])), r)
        part = make_part("voi", song, r, 3.0)
        y, _ = sing(part, 3 * 44100, 44100, r)
        candidates["voice synth"].append(timbre_vector(audio.resample(y, 44100, SR)))
        part.program = int(r.choice([52, 53]))
        gm = engine.fluid.render(part, i % len(engine.fluid.sfids), 3 * 44100).mean(0)
        candidates["GM choir/voice oohs 52/53"].append(timbre_vector(audio.resample(gm, 44100, SR)))
        if i < max(4, n_clips // 2):
            for code in others:
                other = make_part(code, song, r, 3.0)
                rendered = engine.fluid.render(other, i % len(engine.fluid.sfids), 3 * 44100).mean(0)
                candidates[f"GM {code}"].append(timbre_vector(audio.resample(rendered, 44100, SR)))
    spread = np.mean([np.linalg.norm(a - b) for i, a in enumerate(voi_real) for b in voi_real[i + 1 :]])
    report = {
        "real voi clips": len(voi_real),
        "real voi pairwise distance": round(float(spread), 2),
        "real classes": {c: len(v) for c, v in real.items()},
    }
    for name, vectors in candidates.items():
        vz = z(vectors)
        dist_voi = np.mean([[np.linalg.norm(v - w) for w in voi_real] for v in vz])
        nearest = [min(centroids, key=lambda c: np.linalg.norm(v - centroids[c])) for v in vz]
        report[name] = {
            "mean distance to real voi": round(float(dist_voi), 2),
            "nearest real class = voi": f"{nearest.count('voi')}/{len(nearest)}",
            "nearest classes": {c: nearest.count(c) for c in sorted(set(nearest))},
        }
    return report


if __name__ == "__main__":  # pragma: no cover
    import json

    from instrumentid.synth.dataset import default_shared_data

    print(json.dumps(voice_similarity(default_shared_data()), indent=1))
