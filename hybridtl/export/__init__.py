"""Deploying: a fitted model as one ONNX graph from uint8 pixels to probabilities, preprocessing and
ensembles included, that runs with ONNX Runtime alone (:func:`export_onnx`)."""

from ._export import OWN_SIZE_TOLERANCE, TOLERANCE, ExportError, check_images, export_onnx, onnx_graph
from ._preprocessing import gray_pixels_graph, preprocessing_graph

__all__ = ["OWN_SIZE_TOLERANCE", "TOLERANCE", "ExportError", "check_images", "export_onnx", "gray_pixels_graph",
           "onnx_graph", "preprocessing_graph"]
