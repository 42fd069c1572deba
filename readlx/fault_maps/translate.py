"""Canonical faults <-> one framework's layer names and tensor layouts.

A canonical fault addresses a PyTorch module and a PyTorch-layout index; another framework stores
the same weight under its own name and with permuted axes. The mapping is the layer table's
``Binding`` of that framework (invariant 1 of docs/architecture.md): never the layer's position.

Keras layouts: a ``Conv2D`` kernel is ``(kH, kW, I, O)`` = canonical ``(O, I, kH, kW)`` permuted by
``(2, 3, 1, 0)``; a ``Dense`` kernel is ``(I, O)`` = permutation ``(1, 0)``; a ``DepthwiseConv2D``
kernel is ``(kH, kW, C, 1)`` = canonical ``(C, 1, kH, kW)`` permuted by ``(2, 3, 0, 1)``.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from readlx.errors import FaultListError, InputError, RegistryError
from readlx.fault_maps.csvrows import split_cells
from readlx.fault_maps.fault import Bits, Fault, FaultKind, Site, parse_bits
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import Binding, Layer, LayerTable

KERAS = "keras"
CONV_TO_KERAS = (2, 3, 1, 0)
DEPTHWISE_TO_KERAS = (2, 3, 0, 1)
LINEAR_TO_KERAS = (1, 0)
DEPTHWISE_LAYOUTS = ("depthwise", "conv")
MATCH_HEADER = ["PT", "TF"]


@dataclass(frozen=True)
class FrameworkFault:
    """A fault addressed the way one framework stores the weight.

    Examples
    --------
    >>> f = FrameworkFault("keras", "dense", (36, 7), 4)
    >>> f.layer, f.index, f.kind.value
    ('dense', (36, 7), 'bit-flip')
    """

    framework: str
    layer: str
    index: tuple[int, ...]
    bit: Bits
    kind: FaultKind = FaultKind.BIT_FLIP
    site: Site = Site.WEIGHT

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "bit", parse_bits(self.bit))
        except FaultListError as e:
            raise FaultListError(str(e), field="bit") from e
        object.__setattr__(self, "index", tuple(int(i) for i in self.index))
        object.__setattr__(self, "kind", self.kind if isinstance(self.kind, FaultKind) else FaultKind.parse(self.kind))
        object.__setattr__(self, "site", self.site if isinstance(self.site, Site) else Site.parse(self.site))


def to_framework_fault(fault: Fault, table: LayerTable, framework: str) -> FrameworkFault:
    """One canonical fault in ``framework``'s naming and layout.

    Examples
    --------
    >>> table = LayerTable("m", (Layer("fc", "linear", (10, 64)),))
    >>> table = with_keras_bindings(table, {"fc": "dense"})
    >>> to_framework_fault(Fault("fc", (7, 36), 4), table, "keras").index
    (36, 7)
    """
    table.check_fault(fault)
    if fault.is_transient:
        raise FaultListError(f"{fault.describe()!r} draws its element per image in canonical layout; a runtime "
                             "applies its draws (readlx.fault_maps.transient.Draws.framework_index)", field="seed")
    binding = table.binding(framework, fault.layer)
    if fault.is_activation:
        index = activation_to_framework(fault.index, binding)
    else:
        index = binding.to_framework_index(fault.index)
    return FrameworkFault(framework, binding.name, index, fault.bit, fault.kind, fault.site)


def to_framework(fault_list: FaultList, table: LayerTable, framework: str) -> list[FrameworkFault]:
    """Every fault of ``fault_list`` in ``framework``'s naming and layout, in list order.

    Examples
    --------
    >>> table = LayerTable("m", (Layer("conv1", "conv", (16, 3, 3, 3)),))
    >>> table = with_keras_bindings(table, {"conv1": "conv2d"})
    >>> fl = FaultList.from_faults("m", (Fault("conv1", (3, 0, 2, 1), 15),))
    >>> [(f.layer, f.index) for f in to_framework(fl, table, "keras")]
    [('conv2d', (2, 1, 0, 3))]
    """
    return [to_framework_fault(fault, table, framework) for fault in fault_list.faults]


def framework_names(table: LayerTable, framework: str) -> dict[str, str]:
    """Map ``framework`` layer name -> canonical layer name, from the table's bindings.

    Examples
    --------
    >>> table = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    >>> table = with_keras_bindings(table, {"fc": "dense"})
    >>> framework_names(table, "keras")
    {'dense': 'fc'}
    """
    if framework not in table.bindings:
        known = ", ".join(sorted(table.bindings)) or "(none)"
        raise RegistryError(
            f"layer table of {table.model!r} has no {framework!r} bindings; frameworks: {known}"
        )
    names: dict[str, str] = {}
    for canonical, binding in table.bindings[framework].items():
        if binding.name in names:
            raise InputError(
                f"{framework!r} layer {binding.name!r} is bound to both {names[binding.name]!r} "
                f"and {canonical!r}"
            )
        names[binding.name] = canonical
    return names


def from_framework_fault(
    fault: FrameworkFault, table: LayerTable, names: dict[str, str] | None = None
) -> Fault:
    """The canonical fault for one framework fault; ``names`` caches :func:`framework_names`.

    Raises :class:`FaultListError` with field ``"layer"`` or ``"index"`` when the fault does not
    address an element of a bound layer.
    """
    names = framework_names(table, fault.framework) if names is None else names
    if fault.layer not in names:
        raise FaultListError(
            f"unknown {fault.framework} layer {fault.layer!r} for model {table.model!r}; "
            f"available: {', '.join(names)}",
            field="layer",
        )
    layer = table[names[fault.layer]]
    binding = table.binding(fault.framework, layer.name)
    if fault.site is not Site.WEIGHT:
        converted = Fault(layer.name, activation_to_canonical(fault.index, binding), fault.bit, fault.kind, fault.site)
        try:
            table.check_fault(converted)
        except FaultListError as e:
            shape = table.outputs.get(layer.name)
            shown = "" if shape is None else f" (canonical shape {shape})"
            raise FaultListError(f"{fault.framework} index {fault.index} is out of range for the output of layer "
                                 f"{fault.layer!r}{shown}", field="index") from e
        return converted
    _check_framework_index(fault, binding.to_framework_index(layer.shape))
    return Fault(layer.name, binding.to_canonical_index(fault.index), fault.bit, fault.kind)


def channels_last(binding: Binding) -> bool:
    """Does the framework of ``binding`` hold a conv's activations channels-last (NHWC)? Its kernels say
    so: a kernel stored spatial axes first (Keras ``(kH, kW, ...)``) comes with NHWC activations."""
    perm = binding.permutation
    return len(perm) == 4 and perm[:2] == (2, 3)


def activation_to_framework(index: tuple[int, ...], binding: Binding) -> tuple[int, ...]:
    """A canonical activation index ``(C, H, W)`` in the framework's layout (``(H, W, C)`` for NHWC);
    ``(F,)`` is the same everywhere.

    >>> keras = Binding("conv2d", "conv2d/kernel:0", CONV_TO_KERAS)
    >>> activation_to_framework((3, 1, 2), keras), activation_to_canonical((1, 2, 3), keras)
    ((1, 2, 3), (3, 1, 2))
    """
    if len(index) == 3 and channels_last(binding):
        return (index[1], index[2], index[0])
    return index


def activation_to_canonical(index: tuple[int, ...], binding: Binding) -> tuple[int, ...]:
    """The inverse of :func:`activation_to_framework`."""
    if len(index) == 3 and channels_last(binding):
        return (index[2], index[0], index[1])
    return index


def from_framework(
    faults: Iterable[FrameworkFault], table: LayerTable, *, ids: Sequence[int] = ()
) -> FaultList:
    """A canonical :class:`FaultList` of ``table.model`` from framework faults.

    Examples
    --------
    >>> table = LayerTable("m", (Layer("fc", "linear", (10, 64)),))
    >>> table = with_keras_bindings(table, {"fc": "dense"})
    >>> fl = from_framework([FrameworkFault("keras", "dense", (36, 7), 4)], table)
    >>> fl.faults[0].index, to_framework(fl, table, "keras")[0].index
    ((7, 36), (36, 7))
    """
    cache: dict[str, dict[str, str]] = {}
    canonical = []
    for fault in faults:
        if fault.framework not in cache:
            cache[fault.framework] = framework_names(table, fault.framework)
        canonical.append(from_framework_fault(fault, table, cache[fault.framework]))
    return FaultList.from_faults(table.model, canonical, ids=tuple(ids) or None)


def _check_framework_index(fault: FrameworkFault, shape: tuple[int, ...]) -> None:
    if len(fault.index) != len(shape):
        raise FaultListError(
            f"index {fault.index} has rank {len(fault.index)}, {fault.framework} layer "
            f"{fault.layer!r} has shape {shape} (rank {len(shape)})",
            field="index",
        )
    if not all(0 <= i < n for i, n in zip(fault.index, shape, strict=True)):
        raise FaultListError(
            f"index {fault.index} is out of range for {fault.framework} layer {fault.layer!r} "
            f"of shape {shape}",
            field="index",
        )


# -- published name maps ---------------------------------------------------------------------------
def read_match_file(path: str | Path) -> dict[str, str]:
    """Read a published PyTorch -> Keras name map (CSV with header ``PT,TF``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "M_match")
    ...     _ = p.write_text("PT,TF\\nconv1,conv2d\\nlinear,dense\\n")
    ...     read_match_file(p)
    {'conv1': 'conv2d', 'linear': 'dense'}
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read name map: {e}", path=path) from e
    if not lines or [c.strip() for c in _cells(lines[0], path, 1)] != MATCH_HEADER:
        found = lines[0] if lines else "(empty file)"
        raise InputError(f"expected the header 'PT,TF', got {found!r}", path=path, line=1)
    return _match_rows(lines, path)


def _match_rows(lines: list[str], path: str | Path) -> dict[str, str]:
    match: dict[str, str] = {}
    for number, text in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in _cells(text, path, number)]
        if len(cells) != 2 or not all(cells):
            raise InputError(f"expected two names 'PT,TF', got {text!r}", path=path, line=number)
        if cells[0] in match:
            message = f"PyTorch layer {cells[0]!r} is mapped twice"
            raise InputError(message, path=path, line=number, field="PT")
        match[cells[0]] = cells[1]
    return match


def _cells(text: str, path: str | Path, line: int) -> list[str]:
    try:
        return split_cells(text)
    except csv.Error as e:
        raise InputError(f"not a CSV row: {e}", path=path, line=line) from e


def keras_binding(layer: Layer, keras_name: str, depthwise: str = "depthwise") -> Binding:
    """The Keras binding of one canonical layer stored as Keras layer ``keras_name``.

    A depthwise convolution (``groups == in_channels``, one input channel per group) is a Keras
    ``DepthwiseConv2D`` with ``depthwise="depthwise"``, or a grouped ``Conv2D`` with
    ``depthwise="conv"``; the published Keras models (e.g. MobileNetV2) use the latter.

    Examples
    --------
    >>> dw = Layer("c", "conv", (8, 1, 3, 3), groups=8)
    >>> keras_binding(dw, "dw").permutation
    (2, 3, 0, 1)
    >>> keras_binding(dw, "c2", depthwise="conv").permutation
    (2, 3, 1, 0)
    """
    if depthwise not in DEPTHWISE_LAYOUTS:
        valid = ", ".join(DEPTHWISE_LAYOUTS)
        raise InputError(f"unknown depthwise layout {depthwise!r}; valid: {valid}")
    if layer.kind == "linear":
        return Binding(keras_name, f"{keras_name}/kernel:0", LINEAR_TO_KERAS)
    if _is_depthwise(layer) and depthwise == "depthwise":
        if layer.groups != layer.shape[0]:
            raise InputError(
                f"layer {layer.name!r}: depthwise multiplier {layer.shape[0] // layer.groups} has "
                f"no axis permutation to a DepthwiseConv2D kernel; use depthwise='conv'"
            )
        return Binding(keras_name, f"{keras_name}/depthwise_kernel:0", DEPTHWISE_TO_KERAS)
    return Binding(keras_name, f"{keras_name}/kernel:0", CONV_TO_KERAS)


def keras_bindings(
    table: LayerTable, match: dict[str, str], *, depthwise: str = "depthwise"
) -> dict[str, Binding]:
    """Keras bindings of every layer of ``table`` from a PyTorch -> Keras name map.

    The map must name exactly the layers of ``table``; see :func:`keras_binding` for
    ``depthwise``.

    Examples
    --------
    >>> table = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    >>> keras_bindings(table, {"fc": "dense"})["fc"].permutation
    (1, 0)
    """
    missing = [name for name in table.names if name not in match]
    extra = [name for name in match if name not in table]
    if missing or extra:
        raise InputError(
            f"name map does not fit model {table.model!r}: layers without a Keras name: "
            f"{', '.join(missing) or '(none)'}; unknown layers in the map: "
            f"{', '.join(extra) or '(none)'}"
        )
    return {layer.name: keras_binding(layer, match[layer.name], depthwise) for layer in table}


def with_keras_bindings(
    table: LayerTable, match: dict[str, str], *, depthwise: str = "depthwise"
) -> LayerTable:
    """A copy of ``table`` with Keras bindings built from a name map (``table`` is unchanged).

    Examples
    --------
    >>> t = with_keras_bindings(LayerTable("m", (Layer("fc", "linear", (2, 3)),)), {"fc": "dense"})
    >>> t.binding("keras", "fc")
    Binding(name='dense', variable='dense/kernel:0', permutation=(1, 0))
    """
    bindings = dict(table.bindings)
    bindings[KERAS] = keras_bindings(table, match, depthwise=depthwise)
    return LayerTable(table.model, table.layers, bindings)


def _is_depthwise(layer: Layer) -> bool:
    return layer.kind == "conv" and layer.groups > 1 and layer.shape[1] == 1
