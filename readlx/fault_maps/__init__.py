"""Fault models, statistical sampling, fault-list files (incl. the published CSVs) and translation.

Examples
--------
>>> from readlx.graph import Layer, LayerTable
>>> table = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))))
>>> fl = generate(table, margin=0.05)
>>> fl.sampling.mode, len(fl)
('paper', 641)
"""
from __future__ import annotations

from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import PUBLISHED_COLUMNS, FaultEntry, FaultList, PublishedCounts, Sampling
from readlx.fault_maps.formats import FORMATS, FaultListFormat
from readlx.fault_maps.generator import MODES, generate
from readlx.fault_maps.io import load_fault_list, save_fault_list, sniff_format
from readlx.fault_maps.io_native import format_native, read_native, write_native
from readlx.fault_maps.io_paper import (
    format_paper_tf,
    format_paper_torch,
    read_paper_tf,
    read_paper_torch,
    write_paper_tf,
    write_paper_torch,
)
from readlx.fault_maps.sampling import (
    CONVENTIONAL_T,
    allocate,
    layer_populations,
    layer_wise_sizes,
    margin_of_error,
    network_wise_sizes,
    population,
    sample_size,
    t_value,
)
from readlx.fault_maps.translate import (
    KERAS,
    FrameworkFault,
    framework_names,
    from_framework,
    from_framework_fault,
    keras_binding,
    keras_bindings,
    read_match_file,
    to_framework,
    to_framework_fault,
    with_keras_bindings,
)

__all__ = [
    "CONVENTIONAL_T",
    "FORMATS",
    "KERAS",
    "MODES",
    "PUBLISHED_COLUMNS",
    "Fault",
    "FaultEntry",
    "FaultKind",
    "FaultList",
    "FaultListFormat",
    "FrameworkFault",
    "PublishedCounts",
    "Sampling",
    "allocate",
    "format_native",
    "format_paper_tf",
    "format_paper_torch",
    "framework_names",
    "from_framework",
    "from_framework_fault",
    "generate",
    "keras_binding",
    "keras_bindings",
    "layer_populations",
    "layer_wise_sizes",
    "load_fault_list",
    "margin_of_error",
    "network_wise_sizes",
    "population",
    "read_match_file",
    "read_native",
    "read_paper_tf",
    "read_paper_torch",
    "sample_size",
    "save_fault_list",
    "sniff_format",
    "t_value",
    "to_framework",
    "to_framework_fault",
    "with_keras_bindings",
    "write_native",
    "write_paper_tf",
    "write_paper_torch",
]
