"""Operator versions of recent ONNX opsets that onnx2torch 1.5 has no converter for.

The PyTorch exporter writes opset 20 by default; onnx2torch knows most operators up to opset 17.
:func:`newer_opsets` adds, for the duration of one conversion, two kinds of entries to onnx2torch's
converter table (restored in ``finally``):

- versions that only add tensor types a float32 model does not use (float8, int4, string), mapped to
  the version whose converter computes them (:data:`SAME_FOR_FLOAT32`);
- the opset-18 reductions, which take their axes as an input instead of an attribute, converted when
  that input is a constant (:data:`REDUCTIONS_18`).

Any other unknown operator version stays an error naming it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from readlx.errors import ConversionError

SAME_FOR_FLOAT32 = {
    ("Constant", 19): 13, ("Constant", 21): 13, ("Identity", 19): 16, ("Identity", 21): 16,
    ("Reshape", 19): 14, ("Reshape", 21): 14, ("Shape", 19): 15, ("Shape", 21): 15,
    ("Cast", 19): 13, ("Cast", 21): 13, ("Flatten", 21): 13, ("Transpose", 21): 13,
    ("Unsqueeze", 21): 13, ("Equal", 19): 13,
}
REDUCTIONS_18 = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                 "ReduceLogSumExp", "ReduceSumSquare")


@contextmanager
def newer_opsets() -> Iterator[None]:
    """onnx2torch's converter table with the entries above, for one conversion."""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY as table
    from onnx2torch.node_converters.registry import OperationDescription

    entries = {OperationDescription("", op, v): table.get(OperationDescription("", op, known))
               for (op, v), known in SAME_FOR_FLOAT32.items()}
    entries.update({OperationDescription("", op, 18): _reduction_18 for op in REDUCTIONS_18})
    added = [d for d, converter in entries.items() if d not in table and converter is not None]
    for description in added:
        table[description] = entries[description]
    try:
        yield
    finally:
        for description in added:
            del table[description]


def _reduction_18(node: Any, graph: Any) -> Any:
    """An opset-18 reduction whose axes input is a constant, as onnx2torch's static-axes reduction."""
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    attributes = node.attributes
    axes = None
    if len(node.input_values) > 1 and node.input_values[1]:
        try:
            axes = [int(a) for a in get_const_value(node.input_values[1], graph).tolist()]
        except KeyError as e:
            raise ConversionError(f"ONNX -> PyTorch: {node.operation_type} (opset 18) with axes computed at run "
                                  "time cannot run on the torch runtime") from e
    if not axes and attributes.get("noop_with_empty_axes", 0):
        raise ConversionError(f"ONNX -> PyTorch: {node.operation_type} (opset 18) with noop_with_empty_axes "
                              "cannot run on the torch runtime")
    module = OnnxReduceStaticAxes(node.operation_type, axes, attributes.get("keepdims", 1))
    return OperationConverterResult(module, OnnxMapping(inputs=(node.input_values[0],),
                                                        outputs=tuple(node.output_values)))
