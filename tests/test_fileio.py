"""instrumentid.fileio: the atomic write and the progress bar every command shares."""

import io
import os
import sys

import pytest

from instrumentid.errors import ConfigError
from instrumentid.fileio import atomic_path, progress_bar


def test_atomic_path_moves_the_file_into_place_with_the_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target, suffix=".txt") as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("done")
    assert target.read_text() == "done" and os.listdir(target.parent) == ["out.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert os.listdir(tmp_path) == []


def test_atomic_path_refuses_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="is a folder; give a file name"), atomic_path(tmp_path):
        pass


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal,quiet,drawn", [(True, False, True), (True, True, False), (False, False, False)])
def test_progress_bar_draws_only_on_a_terminal_and_not_when_quiet(monkeypatch, terminal, quiet, drawn):
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert list(progress_bar(range(3), desc="counting", unit="file", quiet=quiet)) == [0, 1, 2]
    assert ("counting" in stderr.getvalue()) is drawn


def test_progress_bar_without_an_iterable_is_updated_by_hand(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress_bar(desc="synth", unit="clip", total=4, initial=1) as bar:
        bar.update(3)
    assert "4/4" in sys.stderr.getvalue()
