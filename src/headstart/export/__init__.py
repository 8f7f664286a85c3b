"""ONNX export of a run's shipped model, its preprocessing contract, parity/int8 report, and ORT prediction."""

from __future__ import annotations

from headstart.export.contract import prepare_inputs
from headstart.export.onnx import export_model, export_run, predict_onnx
from headstart.export.plans import EXPORTERS, ExportPlan, encoder_head_plan, register_exporter
from headstart.export.quantize import quantize_int8

__all__ = [
    "EXPORTERS",
    "ExportPlan",
    "encoder_head_plan",
    "export_model",
    "export_run",
    "predict_onnx",
    "prepare_inputs",
    "quantize_int8",
    "register_exporter",
]
