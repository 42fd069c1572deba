"""Where, when and how a result was made: host facts, time stamps, history, the subset, the card's axes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import readlx
from readlx import provenance
from readlx.campaign import CampaignOptions, run_campaign
from readlx.engines import RUNTIMES
from readlx.fault_maps import generate, load_fault_list, save_fault_list
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 8)


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6248\n"
     "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6248\n", "Intel(R) Xeon(R) Gold 6248"),
    ("processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\nHardware\t: Raspberry Pi 5\n", "Raspberry Pi 5"),
])
def test_cpu_model_from_cpuinfo(cpuinfo: str, expected: str) -> None:
    assert provenance.cpu_model(cpuinfo) == expected


def test_cpu_model_without_cpuinfo_falls_back_to_platform() -> None:
    assert provenance.cpu_model("") != ""


def test_gpu_names_from_the_driver(tmp_path: Path) -> None:
    for slot, name in (("0000:17:00.0", "NVIDIA H200"), ("0000:65:00.0", "NVIDIA A100-SXM4-80GB")):
        (tmp_path / slot).mkdir()
        (tmp_path / slot / "information").write_text(f"Model: \t\t {name}\nIRQ:   \t\t 42\n")
    assert provenance.gpu_names(tmp_path) == ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"]
    assert provenance.gpu_names(tmp_path / "none") in ([], provenance.gpu_names())


def test_clock_is_utc_and_source_date_epoch_fixes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert provenance.iso_time() == "2026-01-01T00:00:00Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    stamp = datetime.fromisoformat(provenance.iso_time().replace("Z", "+00:00"))
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5)


def test_command_line_is_the_readlx_command_quoted() -> None:
    assert provenance.command_line(["/venv/bin/readlx", "run", "m", "--sample", "20", "-o", "my runs/k.nc"]) == \
        "readlx run m --sample 20 -o 'my runs/k.nc'"
    assert provenance.command_line(["/x/readlx/cli/__main__.py", "merge", "a.nc"]) == "readlx merge a.nc"


def test_merged_history_keeps_each_step_once_at_its_earliest_time() -> None:
    shard = "2026-01-01T00:00:05Z: readlx run m --shard 0/2\n2026-01-01T00:09:00Z: readlx run m --shard 1/2"
    chunk = ["2026-01-01T00:00:07Z: readlx run m", "2026-01-01T00:00:03Z: readlx run m"]
    assert provenance.merged_history([shard, *chunk, None]).splitlines() == [
        "2026-01-01T00:00:03Z: readlx run m", "2026-01-01T00:00:05Z: readlx run m --shard 0/2",
        "2026-01-01T00:09:00Z: readlx run m --shard 1/2"]
    merged = provenance.merged_provenance([{"date_created": "2026-01-02T00:00:00Z", "host_cpu": "A"},
                                           {"date_created": "2026-01-01T00:00:00Z", "host_cpu": "A"}])
    assert merged == {"date_created": "2026-01-01T00:00:00Z", "host_cpu": "A"}


def test_a_run_records_where_it_ran_apart_from_the_card(arrays, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    ds = readlx.run(MODEL, arrays, sample=3, frameworks=("torch", "reference-direct-float32"), progress=False)
    a = ds.attrs
    assert a["published_hardware_platform"] == ZOO[MODEL].characterization()["published_hardware_platform"]
    assert a["published_framework"] == "PyTorch" and "hardware_platform" not in a and "framework" not in a
    assert (a["dataset"], a["published_dataset"]) == ("arrays", "synthetic10")  # the data it ran on, the card's
    assert a["host_cpu"] == provenance.cpu_model() and a["host_cpu_count"] >= 1 and a["host_gpus"]
    assert a["runtimes"].startswith("torch ") and "reference-direct-float32 " in a["runtimes"]
    assert a["readlx_version"] == readlx.__version__ and a["python_version"].startswith("3.")
    assert a["date_created"] == "2026-01-01T00:00:00Z"
    assert a["history"] == f"2026-01-01T00:00:00Z: fault campaign run by readlx {readlx.__version__} (Python API)"
    assert a["Conventions"] == "CF-1.10" and MODEL in a["title"]


def test_the_command_line_heads_the_history(arrays) -> None:
    model = readlx.subject(MODEL)
    ds = run_campaign([RUNTIMES.build("torch", model.artifact, batch_size=8)], readlx.fault_list(None, model, sample=2),
                      readlx.image_data(arrays, model), model=MODEL,
                      options=CampaignOptions(attrs={"command_line": "readlx run m --sample 2"}))
    assert ds.attrs["command_line"] == "readlx run m --sample 2"
    assert ds.attrs["history"].endswith(": readlx run m --sample 2")


def test_a_subset_records_its_size_seed_and_source_list(arrays) -> None:
    full = readlx.fault_list(None, readlx.subject(MODEL))
    ds = readlx.run(MODEL, arrays, sample=5, seed=7, progress=False)
    a = ds.attrs
    assert (a["subset_size"], a["subset_seed"], a["fault_list_size"]) == (5, 7, len(full))
    assert "stratified" in a["subset_method"] and a["fault_list_source"] == "memory"
    assert (a["sampling_sample_size"], a["sampling_seed"], a["sampling_mode"]) == (5, 7, "stratified-subset")
    assert a["fault_list_sampling_sample_size"] == full.sampling.sample_size
    assert a["fault_list_sampling_seed"] == 42 and a["fault_list_sampling_margin"] == 0.05
    assert a["sampling_margin"] > 0.05  # five faults say much less than the list
    whole = readlx.run(MODEL, arrays, full[:4], progress=False)
    assert "subset_size" not in whole.attrs


def test_a_subset_written_as_a_fault_list_stays_one(tmp_path: Path) -> None:
    table = ZOO[MODEL].layer_table()
    sub = provenance.recorded_subset(generate(table, margin=0.2, seed=1, mode="network-wise"), 6, seed=2)
    save_fault_list(sub, tmp_path / "sub.csv")
    back = load_fault_list(tmp_path / "sub.csv", table)
    assert back.sampling == sub.sampling and provenance.subset_attrs(back) == provenance.subset_attrs(sub)
    assert provenance.recorded_subset(sub, len(sub), seed=0) is sub
