"""The frozen-backbone embedding cache: computed once, written atomically, read back unchanged."""

import numpy as np
import torch

from helpers import write_tone
from instrumentid.frontends.core import feature_config
from instrumentid.models import build
from instrumentid.training.frozen_embeddings import EmbeddingCache


def test_embedding_cache_writes_one_file_per_audio_file_and_reads_it_back(tmp_path):
    torch.manual_seed(0)
    model = build("yamnet", head="linear", fine_tune_blocks=0)
    song = write_tone(tmp_path / "a.wav", 440.0, 2.0, 16_000)
    cache = EmbeddingCache(model, feature_config("yamnet"), window_s=0.975, hop_s=0.96, folder=tmp_path / "cache")
    first, levels = cache.get(song)
    assert first.dtype == np.float16 and first.shape[0] == 3  # at 0 s, 0.96 s and the tail aligned to the end
    np.testing.assert_allclose(levels, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)  # write_tone's level, per window
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".npz"]  # no temporary file left behind
    np.testing.assert_array_equal(cache.get(song)[0], first)
