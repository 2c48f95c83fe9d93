"""Render one clip in memory: training clip (one predominant instrument over quieter
accompaniment), test excerpt (1-4 labelled instruments, labels measured from the stems) or a
negative (no IRMAS instrument)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.errors import SynthError
from instrumentid.synth import chain, ensembles
from instrumentid.synth import effects as fx
from instrumentid.synth.backgrounds import RealNegatives
from instrumentid.synth.music import make_song
from instrumentid.synth.parts import choose_program, make_part
from instrumentid.synth.render import FluidRenderer
from instrumentid.synth.sampler import Sampler
from instrumentid.synth.voice import sing

#: Share of clips of a sampler-capable class that use the real-note sampler.
SAMPLER_SHARE = 0.5
KINDS = ("train", "test", "negative")
NEGATIVE_KINDS = ("drums_bass", "drums", "bass", "other", "noise", "real", "real_drums", "tone")


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip deterministically."""

    kind: str  # train | test | negative
    seed: int  # per-clip seed
    song_seed: int  # shared by clips of one "song" (timbres, key, tempo, ensemble)
    duration_s: float
    genre: str
    instrument: str | None = None  # predominant class (train)
    negative_kind: str | None = None


@dataclass
class Clip:
    waveform: np.ndarray  # float32 (2, samples)
    labels: list[str]
    genre: str
    programs: list[str] = field(default_factory=list)  # role:source:program
    soundfonts: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    stem_loudness_db: dict[str, float] = field(default_factory=dict)
    stems: dict[str, np.ndarray] | None = None


class Engine:
    """Per-process rendering resources: one FluidSynth with every SoundFont, the sampler, negatives."""

    def __init__(self, soundfonts: list[Path], shared_data: Path | None, sample_rate: int = 44100, *,
                 hold_out: tuple[str, ...] = ()) -> None:
        self.sample_rate = sample_rate
        self.fluid = FluidRenderer(soundfonts, sample_rate) if soundfonts else None
        self.sampler = Sampler(Path(shared_data) / "real-notes" if shared_data else None, sample_rate)
        self.sampler_classes = set(self.sampler.classes())
        self.negatives = RealNegatives(shared_data, sample_rate, hold_out=hold_out)

    # ------------------------------------------------------------ song-level decisions
    def instrument_setup(self, role: str, genre: str, rng: np.random.Generator) -> dict:
        """Source, program, SoundFont and sampler variant for ``role`` (drawn once per song)."""
        setup = {"role": role, "program": choose_program(role, rng, genre)}
        if role == "voi":
            setup["source"] = "voice"
            setup["voice_type"] = str(rng.choice(["tenor", "alto", "soprano"]))
            return setup
        use_sampler = role in self.sampler_classes and (self.fluid is None or rng.random() < SAMPLER_SHARE)
        if use_sampler:
            setup["source"] = "sampler"
            setup["variant"] = str(rng.choice(self.sampler.variants(role)))
            return setup
        if self.fluid is None:
            raise SynthError(f"no SoundFont and no recorded notes for {role}")
        options = self.fluid.soundfonts_with(setup["program"], drums=role == "drums") or [0]
        setup["source"] = "fluidsynth"
        setup["soundfont"] = int(rng.choice(options))
        return setup

    # ------------------------------------------------------------ one stem
    def stem(self, setup: dict, song, rng: np.random.Generator, n: int, duration_s: float, *,
             accompaniment: bool) -> tuple[np.ndarray, list[str], str, str]:
        """Rendered, coloured, placed stereo stem; (waveform, effects applied, program tag, soundfont name)."""
        role, sr = setup["role"], self.sample_rate
        part = make_part(role, song, rng, duration_s, program=setup["program"], accompaniment=accompaniment,
                         sampler=setup["source"] == "sampler")
        sf_name = ""
        if setup["source"] == "voice":
            waveform, desc = sing(part, n, sr, rng, voice_type=setup["voice_type"])
            tag = f"{role}:voice:{setup['voice_type']}"
        elif setup["source"] == "sampler":
            waveform = self.sampler.render(part, role, n, rng, variant=setup.get("variant"))
            tag = f"{role}:sampler:{setup.get('variant')}"
        else:
            waveform = self.fluid.render(part, setup["soundfont"], n)
            sf_name = self.fluid.names[setup["soundfont"]]
            tag = f"{role}:gm:{'drums' + str(part.program) if role == 'drums' else part.program}"
        distorted = part.program in (29, 30) and setup["source"] != "sampler"
        amp = setup["source"] != "sampler" or setup.get("variant") == "guitar-electric"
        waveform, effects = chain.colour_stem(waveform, role, sr, rng, distorted=distorted, amp=amp)
        pan = 0.0 if role in ("bass", "voi") and rng.random() < 0.7 else None
        return chain.place(waveform, rng, pan=pan), effects, tag, sf_name

    def _background(self):
        return self.negatives.excerpt if self.negatives else None

    # ------------------------------------------------------------ clips
    def render(self, spec: ClipSpec, *, keep_stems: bool = False) -> Clip:
        if spec.kind == "train":
            return self._train(spec, keep_stems)
        if spec.kind == "test":
            return self._test(spec, keep_stems)
        if spec.kind == "negative":
            return self._negative(spec, keep_stems)
        raise ValueError(f"kind must be one of {KINDS}, not {spec.kind!r}")

    def _mixdown(self, stems: dict[str, np.ndarray], levels_db: dict[str, float], rng, genre: str,
                 clip: Clip, keep_stems: bool) -> Clip:
        """Set each stem to its loudness target, add the room and the master bus."""
        sr = self.sample_rate
        scaled = {}
        for role, stem in stems.items():
            loud = fx.loudness_db(stem, sr)  # gated loudness is scale-invariant: target reached exactly
            gain = fx.db_to_gain(levels_db[role] - loud) if loud > -100 else 0.0
            scaled[role] = stem * gain
            clip.stem_loudness_db[role] = levels_db[role] if loud > -100 else -120.0
        sends = [float(rng.uniform(0.05, 0.45)) for _ in scaled]
        mix, desc = chain.room(list(scaled.values()), sends, sr, rng, genre=genre)
        clip.effects.append(desc)
        mix, effects = chain.master(mix, sr, rng, background=self._background())
        clip.effects += effects
        clip.waveform = mix
        clip.stems = scaled if keep_stems else None
        return clip

    def _ensemble_stems(self, roles: list[str], setups: dict, song, rng, n, duration_s, clip: Clip, lead: str | None):
        stems = {}
        for role in roles:
            waveform, effects, tag, sf_name = self.stem(setups[role], song, rng, n, duration_s, accompaniment=role != lead)
            stems[role] = waveform
            clip.programs.append(tag)
            clip.effects += [f"{role}:{x}" for x in effects]
            if sf_name and sf_name not in clip.soundfonts:
                clip.soundfonts.append(sf_name)
        return stems

    def _accompaniment(self, genre: str, song_rng, exclude: tuple[str, ...], n_labelled: int) -> list[str]:
        roles = ensembles.pick_instruments(genre, song_rng, n_labelled, exclude=exclude) if n_labelled else []
        if song_rng.random() < ensembles.DRUMS_P[genre]:
            roles.append("drums")
        if song_rng.random() < ensembles.BASS_P[genre]:
            roles.append("bass")
        if genre != "cla" and song_rng.random() < 0.1:
            roles.append("other")
        return [r for r in roles if self.fluid is not None or r in self.sampler_classes or r == "voi"]

    def _train(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        n = int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        song = make_song(spec.genre, song_rng)
        lead = spec.instrument
        accomp = self._accompaniment(spec.genre, song_rng, (lead,), int(song_rng.integers(0, 3)))
        setups = {r: self.instrument_setup(r, spec.genre, song_rng) for r in [lead] + accomp}
        song.start_bar = float(rng.integers(len(song.chords)))
        if rng.random() < 0.2:  # some clips are solo
            accomp = []
        clip = Clip(np.zeros((2, n), np.float32), [lead], spec.genre)
        stems = self._ensemble_stems([lead] + accomp, setups, song, rng, n, spec.duration_s, clip, lead)
        ref = -20.0
        levels = {lead: ref}
        for role in accomp:
            levels[role] = ref - float(rng.uniform(12, 22))
        if accomp:  # the accompaniment together stays >= 9 dB under the lead
            total = 10 * np.log10(sum(10 ** (levels[r] / 10) for r in accomp))
            if total > ref - 9:
                for r in accomp:
                    levels[r] -= total - (ref - 9)
        return self._mixdown(stems, levels, rng, spec.genre, clip, keep_stems)

    def _test(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        sr, n = self.sample_rate, int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        song = make_song(spec.genre, song_rng)
        labelled = ensembles.pick_instruments(spec.genre, song_rng, int(song_rng.integers(2, 6)))
        extra = self._accompaniment(spec.genre, song_rng, tuple(ensembles.GENRE_POOLS[spec.genre]), 0)
        setups = {r: self.instrument_setup(r, spec.genre, song_rng) for r in labelled + extra}
        song.start_bar = float(rng.integers(len(song.chords)))
        featured = [str(c) for c in rng.choice(labelled, size=int(rng.integers(1, min(4, len(labelled)) + 1)), replace=False)]
        background = [c for c in labelled if c not in featured and rng.random() < 0.3]
        unlabelled = [r for r in extra if rng.random() < 0.85]
        roles = featured + background + unlabelled
        clip = Clip(np.zeros((2, n), np.float32), [], spec.genre)
        stems = self._ensemble_stems(roles, setups, song, rng, n, spec.duration_s, clip, featured[0])
        ref = -20.0
        levels = {r: ref - float(rng.uniform(0, 6)) for r in featured}
        levels.update({r: ref - float(rng.uniform(16, 24)) for r in background})
        levels.update({r: ref - float(rng.uniform(4, 14)) for r in unlabelled})
        clip = self._mixdown(stems, levels, rng, spec.genre, clip, keep_stems)
        loud = {r: clip.stem_loudness_db[r] for r in featured + background}
        active = {r: ensembles.active_fraction(stems[r], sr) for r in loud}
        clip.labels = ensembles.audible_labels(loud, active)
        return clip

    def _negative(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        sr, n = self.sample_rate, int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        kind = spec.negative_kind or "noise"
        if self.fluid is None and kind in ("drums_bass", "drums", "bass", "other", "real_drums"):
            kind = "real" if self.negatives else "noise"
        if not self.negatives and kind in ("real", "real_drums"):
            kind = "drums_bass" if self.fluid is not None else "noise"
        clip = Clip(np.zeros((2, n), np.float32), [], spec.genre, effects=[f"neg:{kind}"])
        song = make_song(spec.genre, song_rng)
        roles = {"drums_bass": ["drums", "bass"], "drums": ["drums"], "bass": ["bass"], "other": ["other", "bass"],
                 "real_drums": ["drums"]}.get(kind, [])
        setups = {r: self.instrument_setup(r, spec.genre, song_rng) for r in roles}
        stems = self._ensemble_stems(roles, setups, song, rng, n, spec.duration_s, clip, None)
        levels = {r: -20.0 - float(rng.uniform(0, 6)) for r in roles}
        if kind in ("real", "real_drums"):
            real, name = self.negatives.excerpt(rng, n)
            stems["real"] = chain.place(real, rng, pan=0.0)
            levels["real"] = -20.0
            clip.programs.append(f"real:{name}")
        if kind == "tone":
            tone, name = fx.test_tone(n, sr, rng)
            stems["tone"] = chain.place(tone, rng, pan=0.0)
            levels["tone"] = -20.0
            clip.programs.append(f"tone:{name}")
        if kind == "noise" or not stems:
            color = str(rng.choice(["white", "pink", "brown"]))
            noise = fx.colored_noise((n,), color, rng)
            if rng.random() < 0.5:  # hum / tone-like interference
                t = np.arange(n) / sr
                noise = noise * 0.2 + np.sin(2 * np.pi * float(rng.choice([50, 60, 100, 120])) * t).astype(np.float32)
            stems["noise"] = chain.place(noise, rng, pan=0.0)
            levels["noise"] = -20.0
            clip.programs.append(f"noise:{color}")
        return self._mixdown(stems, levels, rng, spec.genre, clip, keep_stems)
