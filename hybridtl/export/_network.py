"""A torch network as an ONNX graph, through :func:`hybridtl.devices.onnx_export` (torch's TorchScript exporter,
as the ONNX Runtime runner uses it)."""

from __future__ import annotations

import copy

from ._preprocessing import OPSET

__all__ = ["network_graph"]


def _probabilities_module(module, tta):
    """``module``'s logits -> softmax probabilities, averaged with the mirror image's under ``tta``, as
    :func:`hybridtl.finetune.predict_proba` computes them."""
    import torch

    class Probabilities(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = module

        def forward(self, images):
            probs = self.net(images).float().softmax(1)
            if tta:
                probs = (probs + self.net(images.flip(3)).float().softmax(1)) / 2
            return probs

    return Probabilities()


def network_graph(module, size, input_name="images", output_name="features", softmax=False, tta=False):
    """The ONNX model of ``module`` on float32 (N, 3, size, size), N free.

    A copy of the module is exported (in eval mode, float32, on the CPU): the
    fitted model, and the memoised frozen networks features share, stay as they are.

    Parameters
    ----------
    module : torch.nn.Module
    size : int
    input_name, output_name : str
    softmax : bool, default=False
        Export the softmax of its output (``probabilities``) instead of the output itself.
    tta : bool, default=False
        With ``softmax``: average with the horizontally mirrored image's, as ``tta=True`` predicts.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ValueError
        The exporter failed (an operator ONNX has no equivalent for, Python control flow): its reason.
    """
    import onnx

    from ..devices import onnx_export

    net = copy.deepcopy(module).float().cpu().eval()
    if softmax:
        net = _probabilities_module(net, tta).eval()
    try:
        graph = onnx_export(net, size, input_name, output_name, opset=OPSET)
    except Exception as exc:  # the exporter raises many kinds (UnsupportedOperatorError, RuntimeError, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"torch.onnx.export cannot export the {type(module).__name__} network: {reason}") from None
    return onnx.load_from_string(graph)
