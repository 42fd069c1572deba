"""``readlx numerics [study] MODEL`` and ``readlx numerics explain RESULT --published FILE``.

:func:`numerics_command` and :func:`explain_command` take plain arguments, may write result files,
and return the text the command line prints; the studies themselves are in
:mod:`readlx.comparisons.numerics.study`.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.cli import types
from readlx.cli.progress import Update, progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from readlx.comparisons.numerics.study import PublishedEvidence


def campaign_text(ds: xr.Dataset) -> str:
    """Summary, paired tests of each variant against the first, and the most divergent faults."""
    from readlx.comparisons.divergence import format_most_divergent, most_divergent
    from readlx.comparisons.stats import paired_test
    from readlx.comparisons.summary import format_summary, summarize

    names = [str(f) for f in ds.framework.values]
    parts = [format_summary(summarize(ds))]
    for other in names[1:]:
        for metric in ("critical", "masked"):
            parts.append(paired_test(ds, names[0], other, metric).format())
    if len(names) > 1:
        parts += ["most divergent faults:", format_most_divergent(most_divergent(ds, top=10))]
    return "\n\n".join(parts)


def numerics_command(
    model: str,
    *,
    variants: Sequence[str] | None = None,
    campaign_variants: Sequence[str] | None = None,
    images: int | None = 1000,
    campaign_images: int | None = 200,
    faults: str | None = None,
    sample: int = 50,
    seed: int = 0,
    data: str | None = None,
    weights: str | None = None,
    batch_size: int = 250,
    out: str | None = None,
    progress: Update | None = None,
) -> str:
    """``readlx numerics MODEL``: golden divergence versus float64, then the same faults per variant.

    Parameters
    ----------
    variants
        Variants compared with the float64 ground truth on the first ``images`` test images
        (default: :data:`readlx.engines.variants.GOLDEN_VARIANTS`).
    campaign_variants
        Variants of the fault campaign (``sample`` faults, stratified over layers and bits, on the
        first ``campaign_images`` images, per-image outcomes kept); no campaign when ``sample`` is 0
        (default: :data:`readlx.engines.variants.CAMPAIGN_VARIANTS`).
    out
        Directory for ``golden.nc``, ``campaign.nc`` and ``report.html`` (nothing written when None).
    """
    from readlx.comparisons.cf import write_derived
    from readlx.comparisons.html import report_html
    from readlx.comparisons.numerics.golden import format_golden
    from readlx.comparisons.numerics.study import campaign_faults, golden_section, load_subject, variant_campaign
    from readlx.engines.variants import CAMPAIGN_VARIANTS, GOLDEN_VARIANTS
    from readlx.results import write_netcdf

    variants = GOLDEN_VARIANTS if variants is None else variants
    campaign_variants = CAMPAIGN_VARIANTS if campaign_variants is None else campaign_variants
    subject = load_subject(model, data, weights)
    golden = golden_section(subject.net, subject.table, subject.data.subset(images), variants, batch_size)
    parts = [f"golden outputs versus float64 ({golden.attrs['n_images']} images):", format_golden(golden)]
    outdir = Path(out) if out else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
        write_derived(golden, outdir / "golden.nc")
    if sample > 0 and campaign_variants:
        fl = campaign_faults(subject, faults, sample, seed)
        ds = variant_campaign(subject, campaign_variants, fl, campaign_images, batch_size, progress)
        parts += [f"{len(fl)} faults per variant:", campaign_text(ds)]
        if outdir is not None:
            write_netcdf(ds, outdir / "campaign.nc")
            report_html(ds, outdir / "report.html")
    if outdir is not None:
        parts.append(f"results written to {outdir}")
    return "\n\n".join(parts)


def _claim_dir(out: Path, force: bool, inputs: list[str | None]) -> None:
    """The output folder may exist; the files it gets are replaced only with ``--force``."""
    from readlx.outputs import claim

    claim(out, force=True, inputs=[p for p in inputs if p], kind="dir")
    for name in ("golden.nc", "campaign.nc", "report.html"):
        claim(out / name, force=force)


def evidence_text(evidence: PublishedEvidence, published: str) -> str:
    """The campaign-level agreement (or why it was skipped), then the weight-level evidence."""
    from readlx.comparisons.numerics.masking import format_masking_evidence

    e = evidence
    if e.n_known == 0:
        parts = [f"campaign-level agreement skipped: no fault id of the result is in {published}"]
    elif e.explanation is not None:
        parts = [e.explanation.format()]
        if e.n_unknown:
            parts.append(f"{e.n_unknown} faults of the result are not in the published list and were left out")
    else:
        over = " or ".join(str(n) for n in e.published_images)
        parts = [f"campaign-level agreement skipped: the result ran {e.n_images} images per fault, the published "
                 f"counts are over {over}; run the variants over the same images (`readlx numerics MODEL "
                 "--campaign-images all -o OUT`, then explain OUT/campaign.nc)"]
    if e.masking is not None:
        parts.append(f"weight-level evidence over all {e.n_reference} published faults (fully masked faults that "
                     "each arithmetic's operand rounding predicts: explained/contradicted by the published counts):\n"
                     + format_masking_evidence(list(e.masking)))
    return "\n\n".join(parts)


def explain_command(result: str, published: str, *, baseline: str | None = None, weights: str | None = None) -> str:
    """``readlx numerics explain RESULT --published FILE``: which variant reproduces the published counts.

    The evidence is :func:`readlx.comparisons.numerics.study.explain_published`'s.
    """
    from readlx.comparisons.numerics.study import explain_published

    return evidence_text(explain_published(result, published, baseline=baseline, weights=weights), published)


def cmd_numerics(args: argparse.Namespace) -> int:
    from readlx.engines.variants import split_variants

    update, close = progress_bar()
    kwargs = {"variants": split_variants(args.variants)} if args.variants else {}
    if args.campaign_variants:
        kwargs["campaign_variants"] = split_variants(args.campaign_variants)
    if args.out:
        _claim_dir(Path(args.out), args.force, [args.model, args.faults, args.data, args.weights])
    try:
        print(numerics_command(args.model, images=args.images, campaign_images=args.campaign_images,
                               faults=args.faults, sample=args.sample, seed=args.seed, data=args.data,
                               weights=args.weights, batch_size=args.batch_size, out=args.out,
                               progress=update, **kwargs))
    finally:
        close()
    return 0


def cmd_numerics_explain(args: argparse.Namespace) -> int:
    if Path(args.result).is_file():
        print(explain_command(args.result, args.published, baseline=args.baseline, weights=args.weights))
        return 0
    update, close = progress_bar()
    try:
        print(propose_command(args.result, args.published, sample=args.sample, seed=args.seed, data=args.data,
                              weights=args.weights, baseline=args.baseline or "torch", batch_size=args.batch_size,
                              progress=update))
    finally:
        close()
    return 0


def propose_command(model: str, published: str, *, sample: int, seed: int, data: str | None, weights: str | None,
                    baseline: str, batch_size: int, progress: Update | None = None) -> str:
    """``readlx numerics explain MODEL --published FILE``: the per-layer plan from the weights and the
    published counts alone, verified by a campaign on ``sample`` published faults
    (:mod:`readlx.comparisons.numerics.propose`)."""
    from readlx.comparisons.numerics.propose import format_verification, propose_plan, verify_plan
    from readlx.comparisons.numerics.study import canonical_weights, load_subject
    from readlx.fault_maps import load_fault_list
    from readlx.fault_maps.select import stratified_subset

    subject = load_subject(model, data, weights)
    listed = load_fault_list(published, subject.table)
    plan = propose_plan(listed, canonical_weights(subject.net, subject.table))
    faults = stratified_subset(listed, sample, seed)
    verification = verify_plan(subject, plan, faults, baseline=baseline, batch_size=batch_size, progress=progress)
    return format_verification(verification, f"{len(faults)} published faults (stratified by layer, seed {seed})")


def image_count(text: str) -> int | None:
    """``--images N``: a positive count, or ``all`` (None).

    >>> image_count("all"), image_count("16")
    (None, 16)
    """
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of images >= 1 or 'all', got {text!r}")
    return n


def _add_study(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = group.add_parser("study", help="golden outputs of each variant versus float64, then the same faults through "
                                       "each variant (`readlx numerics MODEL` for short)")
    s.add_argument("model", help="zoo model (see `readlx zoo list`)")
    s.add_argument("--variants", metavar="NAMES",
                   help="comma-separated variants compared with float64 (default: %(golden_variants)s)")
    s.add_argument("--campaign-variants", metavar="NAMES",
                   help="comma-separated variants of the fault campaign (default: %(campaign_variants)s)")
    s.add_argument("--images", type=image_count, default=1000, metavar="N",
                   help="test images of the golden comparison, or all")
    s.add_argument("--campaign-images", type=image_count, default=200, metavar="N",
                   help="test images of the fault campaign, or all (what a comparison with the published counts, "
                        "which are over the whole test set, needs)")
    s.add_argument("--faults", metavar="FILE",
                   help="fault list (default: the model's published list, else a generated network-wise one)")
    s.add_argument("--sample", type=types.seed, default=50, metavar="N",
                   help="faults of the campaign, a stratified subset of the list (0: no campaign)")
    s.add_argument("--seed", type=types.seed, default=0, metavar="N",
                   help="seed of the subset (and of a generated list)")
    s.add_argument("--data", help="dataset directory or name, or an .npz file (default: the model's test set "
                                  "under the reference data)")
    s.add_argument("--weights", metavar="FILE", help="weights file (default: the model's published or shipped weights)")
    s.add_argument("--batch-size", type=types.count, default=250, metavar="N", help="images per inference")
    s.add_argument("-o", "--out", metavar="DIR", help="write golden.nc, campaign.nc and report.html into this "
                                                      "directory (default: nothing written)")
    s.add_argument("--force", action="store_true", help="replace those files where they exist")
    s.set_defaults(func=cmd_numerics)


def _add_explain(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = group.add_parser("explain", help="which arithmetic, layer by layer, reproduces a published list's counts",
                         description="With MODEL: propose the per-layer arithmetic from the model's weights and the "
                                     "published counts alone, and verify it with a campaign on --sample published "
                                     "faults (before: --baseline; after: the plan as an emulated runtime). With "
                                     "RESULT: which variant of a campaign result reproduces the counts.")
    e.add_argument("result", metavar="MODEL|RESULT",
                   help="a zoo model, or a campaign result with several variants (e.g. OUT/campaign.nc of "
                        "`readlx numerics MODEL --campaign-images all -o OUT`)")
    e.add_argument("--published", metavar="FILE", required=True,
                   help="published fault list with outcome counts (e.g. the model's *_FL.csv)")
    e.add_argument("--baseline", metavar="VARIANT", help="the variant the per-layer choices start from, the "
                                                         "'before' (default: the result's first; with MODEL: torch)")
    e.add_argument("--weights", metavar="FILE",
                   help="weights file of the weight-level evidence (default: the model's published weights)")
    e.add_argument("--sample", type=types.count, default=200, metavar="N",
                   help="with MODEL: published faults of the verifying campaign (default 200, stratified by layer)")
    e.add_argument("--seed", type=types.seed, default=0, help="with MODEL: seed of that sample")
    e.add_argument("--data", metavar="PATH", help="with MODEL: the test set (default: under the reference data)")
    e.add_argument("--batch-size", type=types.count, default=256, help="with MODEL: images per engine call")
    e.set_defaults(func=cmd_numerics_explain)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``numerics [study] MODEL``, ``numerics explain RESULT --published FILE``."""
    n = sub.add_parser("numerics", help="convolution algorithms and arithmetic variants; "
                       "`readlx numerics explain RESULT --published FILE` explains published results",
                       description="Compare convolution algorithms and arithmetics (float64, TF32, BF16...) on one "
                                   "model, or explain published counts by them. `readlx numerics MODEL ...` is short "
                                   "for `readlx numerics study MODEL ...`.",
                       implied_subcommand="study")
    group = n.add_subparsers(dest="numerics_command", required=True, metavar="{study,explain}")
    _add_study(group)
    _add_explain(group)
