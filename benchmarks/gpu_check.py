"""On a CUDA device: a few published faults run natively on the GPU, with PyTorch's defaults and with
TF32 off, against the emulated arithmetic that is said to explain the published counts.

The published ResNet20 counts were measured on a GPU. ``readlx numerics explain`` proposes, from the
weights and those counts alone, a per-layer plan (TF32 in the six ``layer3`` convolutions) and runs
it on the CPU as an emulated runtime. This script checks that plan against the GPU itself:

- ``torch`` on the device with PyTorch's defaults (cuDNN convolutions may use TF32), against the
  emulated plan (``reference-native-float32+LAYER=tf32...``, on the CPU) and the published counts;
- ``torch`` on the device with TF32 off (:func:`readlx.engines.torch_backends.cuda_tf32`), against
  plain float32 emulation (``reference-native-float32``).

Per pair: SDC-1 within ±2 images, masked within 1 % of the images, all three counts equal, on the
same faults and images. With ``--demo`` it runs the demo model on synthetic data (no published
counts: the native-versus-emulated pairs only), which also works on the CPU with ``--device cpu``.

Usage::

    python benchmarks/gpu_check.py [--faults 8] [--images 10000] [--device cuda] [--demo]

Exit status: 0 when done or skipped (no CUDA device, no reference data), 1 on an error.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import xarray as xr

import readlx
from readlx.fault_maps.faultlist import FaultList

PUBLISHED = "resnet20-cifar10"
DEMO = "democnn-synthetic10"
DEMO_PLAN = "reference-native-float32+conv3=tf32"


def counts(ds: xr.Dataset, framework: str) -> np.ndarray:
    sel = ds.isel(model=0).sel(framework=framework)
    return np.stack([sel.masked.values, sel.non_critical.values, sel.critical.values], axis=1)


def compare(a: np.ndarray, b: np.ndarray, n_images: int) -> str:
    diff = np.abs(a - b)
    sdc, masked, exact = (diff[:, 2] <= 2).mean(), (diff[:, 0] <= 0.01 * n_images).mean(), (diff == 0).all(1).mean()
    return (f"SDC-1 within +-2 {100 * sdc:5.1f} %   masked within 1 % {100 * masked:5.1f} %   "
            f"triple exact {100 * exact:5.1f} %")


def _faults(model: str, n: int, seed: int) -> tuple[FaultList, str]:
    """A stratified sample of the published list (and the plan its counts give), or of the demo's list."""
    from readlx.campaign.inputs import fault_list, subject
    from readlx.fault_maps.select import stratified_subset

    listed = fault_list(None, subject(model))
    plan = DEMO_PLAN
    if listed.published is not None:
        from readlx.comparisons.numerics.propose import propose_plan
        from readlx.comparisons.numerics.study import canonical_weights
        from readlx.zoo import ZOO, load_model

        plan = propose_plan(listed, canonical_weights(load_model(model), ZOO[model].layer_table())).runtime()
    return stratified_subset(listed, n, seed), plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=8)
    parser.add_argument("--images", type=int, default=None, help="default: the published counts' (10,000)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    import torch

    from readlx.engines.torch_backends import cuda_tf32
    from readlx.paths import data_root

    if args.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device here (torch.cuda.is_available() is False)")
        return 0
    model = DEMO if args.demo else PUBLISHED
    if not args.demo and data_root() is None:
        print("skipped: the reference data (../shared/data) is absent; try --demo")
        return 0
    faults, plan = _faults(model, args.faults, args.seed)
    images = args.images or (int(faults.published[0, 0]) if faults.published is not None else 256)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"{model}: {len(faults)} faults x {images} images; native on {where} (torch {torch.__version__}, cuDNN "
          f"{torch.backends.cudnn.version()}), emulated on the CPU; plan {plan}")
    print(f"PyTorch defaults: cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, "
          f"cuda.matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}")

    def run(frameworks: tuple[str, ...], device: str = "cpu") -> xr.Dataset:
        return readlx.run(model, None, faults, frameworks=frameworks, images=images, device=device, progress=False)

    native = run(("torch",), args.device)
    with cuda_tf32(False):
        ieee = run(("torch",), args.device)
    plain = "reference-native-float32"
    emulated = run((plan, plain))
    rows = [("native, PyTorch defaults", counts(native, "torch"), "emulated plan", counts(emulated, plan)),
            ("native, TF32 off", counts(ieee, "torch"), "emulated float32", counts(emulated, plain)),
            ("native, PyTorch defaults", counts(native, "torch"), "native, TF32 off", counts(ieee, "torch"))]
    if faults.published is not None:
        published = faults.published[:, 1:]
        rows += [("native, PyTorch defaults", counts(native, "torch"), "published", published),
                 ("emulated plan", counts(emulated, plan), "published", published)]
    for left, a, right, b in rows:
        print(f"  {left:26s} vs {right:18s} {compare(a, b, images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
