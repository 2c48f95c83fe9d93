"""Render one clip in memory: training clip (one predominant instrument over quieter
accompaniment), test excerpt (1-4 labelled instruments, labels measured from the stems; with
extended codes a produced-sounding ensemble) or a negative (no instrument of the label space).

The *label space* of a clip is the IRMAS codes plus the extended codes of its class set: the
instruments that are labelled where audible, and that negatives must not hold. Accompaniment
drums, basses and others are labelled by the code their program plays when it is in that space.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.errors import SynthError
from instrumentid.labels import BY_CODE, EXTENDED, LABELS
from instrumentid.synth import chain, ensembles
from instrumentid.synth import effects as fx
from instrumentid.synth.backgrounds import RealNegatives
from instrumentid.synth.extended import SYNTH_BASS
from instrumentid.synth.music import make_song
from instrumentid.synth.parts import accompaniment_available, choose_program, make_part
from instrumentid.synth.render import FluidRenderer
from instrumentid.synth.sampler import Sampler
from instrumentid.synth.soundfonts import code_of_program
from instrumentid.synth.voice import sing

#: Share of clips of a sampler-capable class that use the real-note sampler.
SAMPLER_SHARE = 0.5
KINDS = ("train", "test", "negative")
NEGATIVE_KINDS = ("drums_bass", "drums", "bass", "other", "noise", "real", "real_drums", "tone")
#: accompaniment of each negative kind; the first must be free to sound, the others are dropped
#: when the label space takes them (``other`` then plays alone).
NEGATIVE_ROLES: dict[str, tuple[str, ...]] = {
    "drums_bass": ("drums", "bass"),
    "drums": ("drums",),
    "bass": ("bass",),
    "other": ("other", "bass"),
    "real_drums": ("drums",),
}
_LOW = ("bass", "bas", "dbl", "tba")


def label_space(classes: Collection[str]) -> tuple[str, ...]:
    """Codes labelled where audible (and kept out of negatives): IRMAS plus the chosen extended codes."""
    return LABELS + tuple(c for c in EXTENDED if c in classes)


def negative_kinds(classes: Collection[str]) -> list[str]:
    """Negative kinds whose main part plays no code of the label space of ``classes``."""
    space = label_space(classes)
    return [
        k for k in NEGATIVE_KINDS if k not in NEGATIVE_ROLES or accompaniment_available(NEGATIVE_ROLES[k][0], space)
    ]


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
    ensemble: str | None = None  # kind of ensembles.ENSEMBLES (test excerpts with extended codes)
    classes: tuple[str, ...] = LABELS  # the chosen class set (see label_space)


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
    ensemble: str = ""


class Engine:
    """Per-process rendering resources: one FluidSynth with every SoundFont, the sampler, negatives."""

    def __init__(
        self,
        soundfonts: list[Path],
        shared_data: Path | None,
        sample_rate: int = 44100,
        *,
        hold_out: tuple[str, ...] = (),
    ) -> None:
        self.sample_rate = sample_rate
        self.fluid = FluidRenderer(soundfonts, sample_rate) if soundfonts else None
        self.sampler = Sampler(Path(shared_data) / "real-notes" if shared_data else None, sample_rate)
        self.sampler_classes = set(self.sampler.classes())
        self.negatives = RealNegatives(shared_data, sample_rate, hold_out=hold_out)

    # ------------------------------------------------------------ song-level decisions
    def instrument_setup(
        self, role: str, genre: str, rng: np.random.Generator, *, code: str | None = None, exclude: Collection[str] = ()
    ) -> dict:
        """Source, program, SoundFont and sampler variant for ``role`` (drawn once per song).

        ``code`` is what the role plays when the role has a number (``vio2``); ``exclude`` lists
        codes an accompaniment part must not play."""
        code = code or role
        setup = {"role": role, "code": code, "program": choose_program(code, rng, genre, exclude)}
        if code == "voi":
            setup["source"] = "voice"
            setup["voice_type"] = str(rng.choice(["tenor", "alto", "soprano"]))
            return setup
        use_sampler = code in self.sampler_classes and (self.fluid is None or rng.random() < SAMPLER_SHARE)
        if use_sampler:
            setup["source"] = "sampler"
            setup["variant"] = str(rng.choice(self.sampler.variants(code)))
            return setup
        if self.fluid is None:
            raise SynthError(f"no SoundFont and no recorded notes for {code}")
        options = self.fluid.soundfonts_with(setup["program"], drums=code in ("drums", "dru")) or [0]
        setup["source"] = "fluidsynth"
        setup["soundfont"] = int(rng.choice(options))
        return setup

    @staticmethod
    def stem_code(setup: dict) -> str | None:
        """The vocabulary code a stem plays: its own, or its program's for accompaniment parts
        (``None`` for the tanpura-like drone, which is no sitar although GM plays it with one)."""
        code = setup["code"]
        if code in BY_CODE or code not in ("drums", "bass", "other"):
            return code if code in BY_CODE else None
        return code_of_program(setup["program"], drums=code == "drums")

    # ------------------------------------------------------------ one stem
    def stem(
        self, setup: dict, song, rng: np.random.Generator, n: int, duration_s: float, *, accompaniment: bool
    ) -> tuple[np.ndarray, list[str], str, str]:
        """Rendered, coloured, placed stereo stem; (waveform, effects applied, program tag, soundfont name)."""
        role, code, sr = setup["role"], setup["code"], self.sample_rate
        part = make_part(
            code,
            song,
            rng,
            duration_s,
            program=setup["program"],
            accompaniment=accompaniment,
            sampler=setup["source"] == "sampler",
        )
        sf_name = ""
        if setup["source"] == "voice":
            waveform, desc = sing(part, n, sr, rng, voice_type=setup["voice_type"])
            tag = f"{role}:voice:{setup['voice_type']}"
        elif setup["source"] == "sampler":
            waveform = self.sampler.render(part, code, n, rng, variant=setup.get("variant"))
            tag = f"{role}:sampler:{setup.get('variant')}"
        else:
            waveform = self.fluid.render(part, setup["soundfont"], n)
            sf_name = self.fluid.names[setup["soundfont"]]
            tag = f"{role}:gm:{'drums' + str(part.program) if part.drums else part.program}"
        distorted = part.program in (29, 30) and code == "gel" and setup["source"] != "sampler"
        amp = setup["source"] != "sampler" or setup.get("variant") == "guitar-electric"
        waveform, effects = chain.colour_stem(waveform, code, sr, rng, distorted=distorted, amp=amp)
        pan = 0.0 if code in ("bass", "voi", "bas", "dbl") and rng.random() < 0.7 else None
        return chain.place(waveform, rng, pan=pan), effects, tag, sf_name

    # ------------------------------------------------------------ clips
    def render(self, spec: ClipSpec, *, keep_stems: bool = False) -> Clip:
        if spec.kind == "train":
            return self._train(spec, keep_stems)
        if spec.kind == "test":
            return self._ensemble(spec, keep_stems) if spec.ensemble else self._test(spec, keep_stems)
        if spec.kind == "negative":
            return self._negative(spec, keep_stems)
        raise ValueError(f"kind must be one of {KINDS}, not {spec.kind!r}")

    def _mixdown(
        self,
        stems: dict[str, np.ndarray],
        levels_db: dict[str, float],
        rng,
        spec: ClipSpec,
        clip: Clip,
        keep_stems: bool,
    ) -> Clip:
        """Set each stem to its loudness target, add the room and the master bus (whose real
        background holds no code of the clip's label space)."""
        sr = self.sample_rate
        scaled = {}
        for role, stem in stems.items():
            loud = fx.loudness_db(stem, sr)  # gated loudness is scale-invariant: target reached exactly
            gain = fx.db_to_gain(levels_db[role] - loud) if loud > -100 else 0.0
            scaled[role] = stem * gain
            clip.stem_loudness_db[role] = levels_db[role] if loud > -100 else -120.0
        sends = [float(rng.uniform(0.05, 0.45)) for _ in scaled]
        mix, desc = chain.room(list(scaled.values()), sends, sr, rng, genre=spec.genre)
        clip.effects.append(desc)
        space = label_space(spec.classes)
        background = (
            functools.partial(self.negatives.excerpt, exclude=space) if self.negatives.available(space) else None
        )
        mix, effects = chain.master(mix, sr, rng, background=background)
        clip.effects += effects
        clip.waveform = mix
        clip.stems = scaled if keep_stems else None
        return clip

    def _ensemble_stems(self, roles: list[str], setups: dict, song, rng, n, duration_s, clip: Clip, lead: str | None):
        stems = {}
        for role in roles:
            waveform, effects, tag, sf_name = self.stem(
                setups[role], song, rng, n, duration_s, accompaniment=role != lead
            )
            stems[role] = waveform
            clip.programs.append(tag)
            clip.effects += [f"{role}:{x}" for x in effects]
            if sf_name and sf_name not in clip.soundfonts:
                clip.soundfonts.append(sf_name)
        return stems

    def _labels(self, stems: dict[str, np.ndarray], setups: dict, clip: Clip, roles: list[str], space) -> list[str]:
        """The audibility rule over the codes of ``roles`` in the label space (a code played by
        two stems counts at its louder one)."""
        loud: dict[str, float] = {}
        active: dict[str, float] = {}
        for role in roles:
            code = self.stem_code(setups[role])
            if code in space:
                loud[code] = max(loud.get(code, -np.inf), clip.stem_loudness_db[role])
                active[code] = max(active.get(code, 0.0), ensembles.active_fraction(stems[role], self.sample_rate))
        return ensembles.audible_labels(loud, active)

    def _accompaniment(self, genre: str, song_rng, exclude: tuple[str, ...], n_labelled: int) -> list[str]:
        roles = ensembles.pick_instruments(genre, song_rng, n_labelled, exclude=exclude) if n_labelled else []
        if song_rng.random() < ensembles.DRUMS_P[genre]:
            roles.append("drums")
        if song_rng.random() < ensembles.BASS_P[genre]:
            roles.append("bass")
        if genre != "cla" and song_rng.random() < 0.1:
            roles.append("other")
        return [r for r in roles if self.fluid is not None or r in self.sampler_classes or r == "voi"]

    def _clashes(self, lead: dict, other: dict) -> bool:
        """An accompaniment part that would double the lead: the same code, or a second bass."""
        low = [s["code"] in _LOW or (s["code"] == "syn" and s["program"] in SYNTH_BASS) for s in (lead, other)]
        return self.stem_code(other) == self.stem_code(lead) or all(low)

    def _band_accompaniment(self, lead: str, song, song_rng: np.random.Generator) -> tuple[list[str], dict]:
        """0-3 players of an ensemble in which the extended ``lead`` plays (of its genre when there is
        one), none doubling it; returns their roles and the setups of everyone, lead included."""
        kinds = ensembles.ensembles_for((lead,))
        kinds = [k for k in kinds if ensembles.ENSEMBLES[k].genre == song.genre] or kinds
        kind = str(song_rng.choice(kinds))
        if ensembles.ENSEMBLES[kind].drone:
            song.chords = [(song.tonic, "5")]
        members = {r: code for r, (code, _) in ensembles.band_members(kind, song_rng).items() if r != lead}
        setups = {r: self.instrument_setup(r, song.genre, song_rng, code=c) for r, c in {lead: lead, **members}.items()}
        accomp = [r for r in members if not self._clashes(setups[lead], setups[r])]
        count = int(song_rng.integers(0, 4))
        return [str(r) for r in song_rng.permutation(accomp)[:count]] if accomp else [], setups

    def _train(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        n = int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        song = make_song(spec.genre, song_rng)
        lead = spec.instrument
        if lead in EXTENDED:
            accomp, setups = self._band_accompaniment(lead, song, song_rng)
        else:
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
        return self._mixdown(stems, levels, rng, spec, clip, keep_stems)

    def _test(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        n = int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        song = make_song(spec.genre, song_rng)
        labelled = ensembles.pick_instruments(spec.genre, song_rng, int(song_rng.integers(2, 6)))
        extra = self._accompaniment(spec.genre, song_rng, tuple(ensembles.GENRE_POOLS[spec.genre]), 0)
        setups = {r: self.instrument_setup(r, spec.genre, song_rng) for r in labelled + extra}
        song.start_bar = float(rng.integers(len(song.chords)))
        featured = [
            str(c) for c in rng.choice(labelled, size=int(rng.integers(1, min(4, len(labelled)) + 1)), replace=False)
        ]
        background = [c for c in labelled if c not in featured and rng.random() < 0.3]
        unlabelled = [r for r in extra if rng.random() < 0.85]
        roles = featured + background + unlabelled
        clip = Clip(np.zeros((2, n), np.float32), [], spec.genre)
        stems = self._ensemble_stems(roles, setups, song, rng, n, spec.duration_s, clip, featured[0])
        ref = -20.0
        levels = {r: ref - float(rng.uniform(0, 6)) for r in featured}
        levels.update({r: ref - float(rng.uniform(16, 24)) for r in background})
        levels.update({r: ref - float(rng.uniform(4, 14)) for r in unlabelled})
        clip = self._mixdown(stems, levels, rng, spec, clip, keep_stems)
        clip.labels = self._labels(stems, setups, clip, roles, label_space(spec.classes))
        return clip

    def _ensemble(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        """A produced-sounding excerpt of an :data:`ensembles.ENSEMBLES` kind; labels measured."""
        n = int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        song = make_song(spec.genre, song_rng)
        if ensembles.ENSEMBLES[spec.ensemble].drone:
            song.chords = [(song.tonic, "5")]
        members = ensembles.band_members(spec.ensemble, song_rng)
        setups = {r: self.instrument_setup(r, spec.genre, song_rng, code=code) for r, (code, _) in members.items()}
        song.start_bar = float(rng.integers(len(song.chords)))
        roles = [r for i, r in enumerate(members) if i == 0 or rng.random() < 0.9]  # a player may rest
        clip = Clip(
            np.zeros((2, n), np.float32), [], spec.genre, effects=[f"ensemble:{spec.ensemble}"], ensemble=spec.ensemble
        )
        stems = self._ensemble_stems(roles, setups, song, rng, n, spec.duration_s, clip, roles[0])
        levels = {r: -20.0 + members[r][1] for r in roles}
        clip = self._mixdown(stems, levels, rng, spec, clip, keep_stems)
        clip.labels = self._labels(stems, setups, clip, roles, label_space(spec.classes))
        return clip

    def _negative_kind(self, spec: ClipSpec, space: tuple[str, ...]) -> str:
        """The kind asked for, or what can stand in for it without SoundFonts or real recordings."""
        kind = spec.negative_kind or "noise"
        real = bool(self.negatives.available(space))
        if self.fluid is None and kind in ("drums_bass", "drums", "bass", "other", "real_drums"):
            kind = "real" if real else "noise"
        if not real and kind in ("real", "real_drums"):
            kind = "drums_bass" if self.fluid is not None else "noise"
        if kind in NEGATIVE_ROLES and not accompaniment_available(NEGATIVE_ROLES[kind][0], space):
            kind = "noise"
        return kind

    def _negative(self, spec: ClipSpec, keep_stems: bool) -> Clip:
        sr, n = self.sample_rate, int(round(spec.duration_s * self.sample_rate))
        song_rng, rng = np.random.default_rng(spec.song_seed), np.random.default_rng(spec.seed)
        space = label_space(spec.classes)
        kind = self._negative_kind(spec, space)
        clip = Clip(np.zeros((2, n), np.float32), [], spec.genre, effects=[f"neg:{kind}"])
        song = make_song(spec.genre, song_rng)
        roles = [r for r in NEGATIVE_ROLES.get(kind, ()) if accompaniment_available(r, space)]
        setups = {r: self.instrument_setup(r, spec.genre, song_rng, exclude=space) for r in roles}
        stems = self._ensemble_stems(roles, setups, song, rng, n, spec.duration_s, clip, None)
        levels = {r: -20.0 - float(rng.uniform(0, 6)) for r in roles}
        if kind in ("real", "real_drums"):
            real, name = self.negatives.excerpt(rng, n, exclude=space)
            stems["real"] = chain.place(real, rng, pan=0.0)
            levels["real"] = -20.0
            clip.programs.append(f"real:{name}")
        if kind == "tone":
            tone, name = fx.test_tone(n, sr, rng)
            stems["tone"] = chain.place(tone, rng, pan=0.0)
            levels["tone"] = -20.0
            clip.programs.append(f"tone:{name}")
        if kind == "noise" or not stems:
            stems["noise"], levels["noise"] = self._noise(n, rng, clip), -20.0
        return self._mixdown(stems, levels, rng, spec, clip, keep_stems)

    def _noise(self, n: int, rng: np.random.Generator, clip: Clip) -> np.ndarray:
        """Coloured noise, half the time with mains hum over it."""
        color = str(rng.choice(["white", "pink", "brown"]))
        noise = fx.colored_noise((n,), color, rng)
        if rng.random() < 0.5:  # hum / tone-like interference
            t = np.arange(n) / self.sample_rate
            noise = noise * 0.2 + np.sin(2 * np.pi * float(rng.choice([50, 60, 100, 120])) * t).astype(np.float32)
        clip.programs.append(f"noise:{color}")
        return chain.place(noise, rng, pan=0.0)
