"""Render a :class:`~instrumentid.synth.phrases.Part` with FluidSynth (pyfluidsynth, in-process).

One :class:`FluidRenderer` per process loads every SoundFont once and renders many parts.
Byte-exact determinism across clip order (so ``--jobs`` and resuming do not change output):

* FluidSynth's built-in reverb and chorus are switched off: their modulated delay lines run on
  the synth's absolute clock, so their output depends on everything rendered before. The
  effects chain (effects.py) adds a convolution reverb and a chorus instead.
* After every reset the whole voice pool is "primed" with the same notes, because a voice's
  first 64-sample block depends on the state its previous note left behind.
* Event times are quantised to FluidSynth's 64-sample block, and audio is pulled in whole blocks.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.errors import SynthError
from instrumentid.synth.phrases import Part
from instrumentid.synth.soundfonts import check_fluidsynth

BLOCK = 64
_POLYPHONY = 192
_LEAD_IN = 4  # silent blocks rendered and dropped before the first event
_DRUM_CHANNEL, _PART_CHANNEL = 9, 0


class FluidRenderer:
    """All SoundFonts loaded into one synth; ``render(part, soundfont_index, n_samples)``."""

    def __init__(self, soundfonts: Sequence[str | Path], sample_rate: int = 44100) -> None:
        check_fluidsynth()
        import fluidsynth

        lib = fluidsynth._fl
        for level in (2, 3, 4):  # warnings, info, debug: voice stealing while priming is expected
            lib.fluid_set_log_function(level, None, None)
        self._write = lib.fluid_synth_write_float
        self._write.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        self._bend = lib.fluid_synth_pitch_bend
        self._bend.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._sens = lib.fluid_synth_pitch_wheel_sens
        self._sens.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.sample_rate = int(sample_rate)
        self.synth = fluidsynth.Synth(
            gain=0.5,
            samplerate=float(sample_rate),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": _POLYPHONY},
        )
        self.paths = [Path(p) for p in soundfonts]
        self.names = [p.name for p in self.paths]
        self.sfids = []
        for path in self.paths:
            sfid = self.synth.sfload(str(path))
            if sfid < 0:
                raise SynthError(f"{path}: FluidSynth could not load this SoundFont")
            self.sfids.append(sfid)
        self._has: dict[tuple[int, int, int], bool] = {}

    def has(self, index: int, program: int, bank: int = 0) -> bool:
        """True when SoundFont ``index`` has preset ``bank:program``."""
        key = (index, bank, program)
        if key not in self._has:
            self._has[key] = self.synth.sfpreset_name(self.sfids[index], bank, program) is not None
        return self._has[key]

    def soundfonts_with(self, program: int, drums: bool = False) -> list[int]:
        bank = 128 if drums else 0
        return [i for i in range(len(self.sfids)) if self.has(i, program, bank)]

    def _pull(self, n: int) -> np.ndarray:
        out = np.zeros((2, n), dtype=np.float32)
        self._write(self.synth.synth, n, out[0].ctypes.data, 0, 1, out[1].ctypes.data, 0, 1)
        return out

    def reset(self, soundfont_index: int, bank: int, program: int) -> None:
        """Silence everything and bring every voice to the same state (see module docstring).

        The pool is primed with the preset about to play, so whatever a voice keeps from its
        previous note depends only on that preset.
        """
        synth = self.synth
        synth.system_reset()
        for _ in range(2):  # each voice owns two DSP objects that swap on a kill: prime both
            for channel in (14, 15):
                synth.program_select(channel, self.sfids[soundfont_index], bank, program)
                for key in range(128):
                    synth.noteon(channel, key, 127)
            self._pull(2 * BLOCK)
            synth.system_reset()
            self._pull(2 * BLOCK)

    def render(self, part: Part, soundfont_index: int, n_samples: int) -> np.ndarray:
        """Render ``part`` into ``float32 (2, n_samples)``."""
        synth, sfid, sr = self.synth, self.sfids[soundfont_index], self.sample_rate
        channel = _DRUM_CHANNEL if part.drums else _PART_CHANNEL
        if part.drums:
            bank, program = 128, (part.program if self.has(soundfont_index, part.program, 128) else 0)
        else:
            bank, program = 0, part.program
            if not self.has(soundfont_index, program):
                raise SynthError(f"{self.names[soundfont_index]} has no GM program {part.program}")
        self.reset(soundfont_index, bank, program)
        synth.program_select(channel, sfid, bank, program)
        if not part.drums:
            self._sens(synth.synth, channel, 2)
        synth.cc(channel, 7, int(np.clip(part.volume * 127, 1, 127)))
        synth.cc(channel, 11, 127)
        events: list[tuple[int, int, tuple]] = []  # (block, order, (kind, a, b))

        def at(t: float) -> int:  # block index, after a discarded lead-in
            return _LEAD_IN + max(0, int(round(t * sr / BLOCK)))

        notes = sorted(part.notes, key=lambda n: (n.start_s, n.pitch))
        next_on: dict[int, int] = {}
        for i in range(len(notes) - 1, -1, -1):  # a re-strike releases the previous note first
            note = notes[i]
            on = at(note.start_s)
            off = max(on + 1, at(note.start_s + note.duration_s))
            restrike = next_on.get(note.pitch, off + 1) <= off
            events.append((on, 2, ("on", note.pitch, note.velocity)))
            events.append((next_on[note.pitch] if restrike else off, 0 if restrike else 1, ("off", note.pitch, 0)))
            next_on[note.pitch] = on
        for t, value in part.expression:
            events.append((at(t), 3, ("cc", 11, int(np.clip(value * 127, 0, 127)))))
        for t, down in part.pedal:
            events.append((at(t), 3, ("cc", 64, 127 if down else 0)))
        for block, value in self._bend_curve(part, n_samples):
            events.append((block + _LEAD_IN, 3, ("bend", value, 0)))
        events.sort(key=lambda e: (e[0], e[1]))
        total_blocks = _LEAD_IN + -(-n_samples // BLOCK)
        chunks, cursor = [], 0
        for block, _, (kind, a, b) in events:
            if block >= total_blocks:
                break
            if block > cursor:
                chunks.append(self._pull((block - cursor) * BLOCK))
                cursor = block
            if kind == "on":
                synth.noteon(channel, a, b)
            elif kind == "off":
                synth.noteoff(channel, a)
            elif kind == "cc":
                synth.cc(channel, a, b)
            else:
                self._bend(synth.synth, channel, a)
        if cursor < total_blocks:
            chunks.append(self._pull((total_blocks - cursor) * BLOCK))
        rendered = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
        return np.ascontiguousarray(rendered[:, _LEAD_IN * BLOCK : _LEAD_IN * BLOCK + n_samples])

    def _bend_curve(self, part: Part, n_samples: int) -> list[tuple[int, int]]:
        """Pitch-bend events every 7 blocks (~10 ms): delayed vibrato plus explicit bends."""
        if part.drums or (part.vibrato_cents <= 0 and not part.bends):
            return []
        sr = self.sample_rate
        blocks = np.arange(0, -(-n_samples // BLOCK), 7)
        t = blocks * BLOCK / sr
        semis = np.zeros_like(t)
        if part.bends:
            bt, bv = zip(*sorted(part.bends), strict=True)
            semis += np.interp(t, bt, bv, left=0.0, right=0.0)
        if part.vibrato_cents > 0 and part.notes:
            starts = np.array(sorted(n.start_s for n in part.notes))
            idx = np.searchsorted(starts, t, side="right") - 1
            since = np.where(idx >= 0, t - starts[np.clip(idx, 0, None)], 0.0)
            ramp = np.clip((since - part.vibrato_delay_s) / 0.3, 0.0, 1.0)
            semis += part.vibrato_cents / 100 * ramp * np.sin(2 * np.pi * part.vibrato_hz * t)
        values = np.clip(np.round(8192 + semis / 2.0 * 8191), 0, 16383).astype(int)
        keep = np.concatenate([[True], values[1:] != values[:-1]])
        return [(int(b), int(v)) for b, v in zip(blocks[keep], values[keep], strict=True)]
