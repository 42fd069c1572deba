"""Outputs: nothing outside a command's named outputs changes, existing outputs need --force, inputs are
never outputs, links are never followed, and only directories readlx made are deleted."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from readlx.cli import main
from readlx.errors import OutputError
from readlx.outputs import (
    MARK,
    claim,
    locked,
    make_dir,
    owned,
    remove_dir,
    replace_dir,
    sweep,
    write_atomic,
    write_bytes_atomic,
)

MODEL = "democnn-synthetic10"


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content digest (links by target, folders by name)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def _user_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    return path


@pytest.fixture()
def faults(tmp_path: Path) -> Path:
    out = tmp_path / "faults.csv"
    assert main(["faults", "generate", MODEL, "-o", str(out), "--margin", "0.2", "--mode", "network-wise"]) == 0
    return out


# -- the module ------------------------------------------------------------------------------------
def test_write_atomic_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for name in ("out.txt.tmp", ".out.txt.tmp"):  # the fixed names of earlier versions
        (tmp_path / name).symlink_to(victim)
    write_atomic(tmp_path / "out.txt", lambda tmp: tmp.write_text("new"))
    assert victim.read_text() == "keep" and (tmp_path / "out.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.txt.tmp", "out.txt", "out.txt.tmp", "victim.txt"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    out = tmp_path / "r.nc"
    out.write_text("old")

    def fails(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(out, fails)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_write_atomic_names_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot be written: No such file"):
        write_atomic(tmp_path / "nope" / "x.txt", lambda tmp: tmp.write_text("x"))


def test_claim_refuses_links_inputs_and_kinds(tmp_path: Path) -> None:
    target = tmp_path / "target.nc"
    target.write_text("x")
    (tmp_path / "link.nc").symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        claim(tmp_path / "link.nc", force=True)
    assert claim(tmp_path / "new.nc", force=True, inputs=[tmp_path / "missing"]) == tmp_path / "new.nc"
    with pytest.raises(OutputError, match="also an input"):
        claim(target, force=True, inputs=[tmp_path / "link.nc"])  # the same file under another name
    with pytest.raises(OutputError, match="not a directory"):
        claim(target, force=True, kind="dir")
    with pytest.raises(OutputError, match="not a file"):
        claim(tmp_path, force=True)
    assert claim(target, force=True) == target and claim(tmp_path / "new.nc", force=False)


def test_only_marked_directories_are_removed(tmp_path: Path) -> None:
    user = _user_dir(tmp_path / "user")
    assert not remove_dir(user) and (user / "thesis.tex").exists()
    with pytest.raises(OutputError, match="holds files readlx did not write"):
        make_dir(user)
    made = make_dir(tmp_path / "made" / "deep")
    (made / "chunk.npz").write_bytes(b"0")
    assert owned(made) and remove_dir(made) and not made.exists()
    (tmp_path / "link").symlink_to(make_dir(tmp_path / "real"))
    assert not owned(tmp_path / "link") and not remove_dir(tmp_path / "link")
    with pytest.raises(OutputError, match="never deletes it"):
        replace_dir(user, force=True)
    assert (replace_dir(tmp_path / "real", force=True) / MARK).is_file()


# -- the commands --------------------------------------------------------------------------------
def test_demo_never_deletes_a_directory_it_did_not_make(tmp_path: Path) -> None:
    user = _user_dir(tmp_path / "mine")
    before = _snapshot(tmp_path)
    for extra in ([], ["--force"]):
        assert main(["demo", "--out", str(user), "--frameworks", "torch", "--images", "8", *extra]) == 2
    assert _snapshot(tmp_path) == before


def test_demo_replaces_its_own_directory_only_with_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--frameworks", "torch", "--images", "8", "--margin", "0.3"]
    assert main(args) == 0 and (out / "result.nc").is_file() and not (out / "result.nc.partial").exists()
    assert main(args) == 2 and "pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_run_refuses_existing_results_and_inputs_as_outputs(tmp_path: Path, faults: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.nc"
    run = ["run", MODEL, "--faults", str(faults), "--images", "8", "--sample", "3"]
    assert main([*run, "-o", str(out)]) == 0 and not Path(str(out) + ".partial").exists()
    before = _snapshot(tmp_path)
    assert main([*run, "-o", str(out)]) == 2 and "exists; pass --force" in capsys.readouterr().err
    assert main([*run, "-o", str(faults), "--force"]) == 2 and "also an input" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    assert main([*run, "-o", str(out), "--force"]) == 0


def test_run_never_uses_or_removes_a_folder_it_did_not_make(tmp_path: Path, faults: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    user = _user_dir(tmp_path / "ckpt")
    before = _snapshot(tmp_path)
    assert main(["run", MODEL, "--faults", str(faults), "--images", "8", "--sample", "2", "-o",
                 str(tmp_path / "r.nc"), "--checkpoint", str(user)]) == 2
    assert "holds files readlx did not write" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_merge_never_writes_over_a_shard(tmp_path: Path, faults: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = [tmp_path / f"s{i}.nc" for i in range(2)]
    for i, shard in enumerate(shards):
        assert main(["run", MODEL, "--faults", str(faults), "--images", "8", "--sample", "4",
                     "--shard", f"{i}/2", "-o", str(shard)]) == 0
    before = _snapshot(tmp_path)
    assert main(["merge", *map(str, shards), "-o", str(shards[0]), "--force"]) == 2
    assert "also an input" in capsys.readouterr().err and _snapshot(tmp_path) == before
    assert main(["merge", *map(str, shards), "-o", str(tmp_path / "all.nc")]) == 0


def test_faults_import_never_writes_over_its_input(tmp_path: Path, faults: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(tmp_path)
    assert main(["faults", "import", str(faults), "--model", MODEL, "-o", str(faults), "--force"]) == 2
    assert main(["faults", "generate", MODEL, "-o", str(faults)]) == 2
    assert _snapshot(tmp_path) == before
    assert main(["faults", "generate", MODEL, "-o", str(faults), "--force", "--margin", "0.3"]) == 0


def test_convert_never_deletes_a_partial_folder_it_did_not_make(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    user = _user_dir(tmp_path / "bundle.partial")
    before = _snapshot(tmp_path)
    assert main(["convert", MODEL, "--out", str(tmp_path / "bundle")]) == 2
    assert "was not made by readlx" in capsys.readouterr().err and _snapshot(tmp_path) == before
    assert (user / "thesis.tex").read_text() == "years of work"


def test_report_checks_its_outputs_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "a.html"
    html.write_text("mine")
    assert main(["report", str(tmp_path / "missing.nc"), "--html", str(html)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and html.read_text() == "mine"
    assert main(["report", str(tmp_path / "missing.nc"), "--plots", str(html)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_one_process_at_a_time_holds_an_output(tmp_path: Path) -> None:
    with locked(tmp_path / ".lock", "the checkpoint of 'r.nc'"):
        with pytest.raises(OutputError, match="in use by another readlx process"):
            with locked(tmp_path / ".lock", "the checkpoint of 'r.nc'"):
                pass
    with locked(tmp_path / ".lock", "again"):  # released
        pass
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="cannot be written: it is a symbolic link"), locked(tmp_path / "link", "x"):
        pass
    assert not (tmp_path / "elsewhere").exists()


def test_resume_after_the_result_was_written_says_the_run_finished(tmp_path: Path, faults: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.nc"
    assert main(["run", MODEL, "--faults", str(faults), "--images", "8", "--sample", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", "--resume", "-o", str(out)]) == 2
    assert "the run finished" in capsys.readouterr().err


def test_merge_refuses_shards_of_two_campaigns(tmp_path: Path, faults: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.csv"
    assert main(["faults", "generate", MODEL, "-o", str(other), "--margin", "0.2", "--mode", "network-wise",
                 "--seed", "7"]) == 0
    for i, (fl, shard) in enumerate(((faults, "s0.nc"), (other, "s1.nc"))):
        assert main(["run", MODEL, "--faults", str(fl), "--images", "8", "--sample", "4",
                     "--shard", f"{i}/2", "-o", str(tmp_path / shard)]) == 0
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "s0.nc"), str(tmp_path / "s1.nc"), "-o", str(tmp_path / "m.nc")]) == 2
    assert "shards of different campaigns: shard 1" in capsys.readouterr().err
    assert not (tmp_path / "m.nc").exists()


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "r.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(previous)
    assert (tmp_path / "r.txt").stat().st_mode & 0o777 == 0o640


def test_a_waiting_lock_waits_for_its_holder(tmp_path: Path) -> None:
    import threading
    import time

    held, order = threading.Event(), []

    def hold() -> None:
        with locked(tmp_path / ".lock", "the cache"):
            held.set()
            time.sleep(0.3)
            order.append("released")

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    with pytest.raises(OutputError, match="in use"), locked(tmp_path / ".lock", "the cache"):
        pass
    with locked(tmp_path / ".lock", "the cache", wait=True):
        order.append("acquired")
    thread.join()
    assert order == ["released", "acquired"]


def test_sweep_removes_only_what_readlx_left(tmp_path: Path) -> None:
    out = tmp_path / "r.nc"
    out.write_text("the result")
    (tmp_path / ".r.nc.ab_12xyz.tmp").write_text("half a result")  # write_atomic's, killed
    trash = make_dir(tmp_path / "inner")
    (trash / "sub").mkdir()
    (trash / "sub" / "torch.0000000-0000001.npz").write_text("chunk")
    (trash / "link").symlink_to(tmp_path / "r.nc")
    trash.rename(tmp_path / ".r.nc.partial.removed-0123abcd")  # remove_dir's, killed before deleting
    kept = {".r.nc.notes.tmp": "the user's", ".r.nc.partial.removed-deadbeef": None, ".r.nc.zz_12xyz.tmp": "link",
            "r.nc.ab_12xyz.tmp": "not hidden", ".r.nc.removed-0123abcd": None}
    for name, what in kept.items():
        if what is None:
            _user_dir(tmp_path / name)  # same name, but not marked as readlx's
        elif what == "link":
            (tmp_path / name).symlink_to(out)
        else:
            (tmp_path / name).write_text(what)
    gone = sweep(out) + sweep(tmp_path / "r.nc.partial")
    assert sorted(p.name for p in gone) == [".r.nc.ab_12xyz.tmp", ".r.nc.partial.removed-0123abcd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "r.nc"])
    assert out.read_text() == "the result"
    assert (tmp_path / ".r.nc.partial.removed-deadbeef" / "thesis.tex").read_text() == "years of work"


def test_write_bytes_atomic_checks_every_byte(tmp_path: Path) -> None:
    write_bytes_atomic(tmp_path / "b.bin", bytes(range(256)) * 64, sync=True)
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256)) * 64
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]
