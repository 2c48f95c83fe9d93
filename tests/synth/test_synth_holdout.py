"""Validation sources held out of rendering never reach backgrounds or negatives."""

from instrumentid.synth.backgrounds import RealNegatives


def test_hold_out_prefixes_are_never_used(shared_data):
    everything = RealNegatives(shared_data, 16_000)
    held = RealNegatives(shared_data, 16_000, hold_out=("librosa_data/", "pypi_examples/pyo"))
    assert any(rel.startswith("librosa_data/") for rel, _ in everything.entries)
    assert held.entries and not any(rel.startswith(("librosa_data/", "pypi_examples/pyo")) for rel, _ in held.entries)
    assert len(held.entries) < len(everything.entries)
