"""Pieces of ONNX (preprocessing, network, head, members of an ensemble) joined into one graph.

``onnx.compose.merge_models`` joins two models output to input; an ensemble
needs several pieces reading one input and an average of their outputs, so
the pieces are prefixed with ``onnx.compose.add_prefix`` and wired here with
``Identity`` nodes, and the graph is made once at the end.
"""

from __future__ import annotations

import itertools

__all__ = ["GraphBuilder"]


class GraphBuilder:
    """Collects pieces (ONNX models) and nodes; :meth:`model` makes the one graph.

    Examples
    --------
    >>> import numpy as np, onnx, onnxruntime as ort
    >>> from onnx import helper, TensorProto
    >>> def double(name_in, name_out):
    ...     graph = helper.make_graph([helper.make_node("Add", [name_in, name_in], [name_out])], "d",
    ...         [helper.make_tensor_value_info(name_in, TensorProto.FLOAT, [None])],
    ...         [helper.make_tensor_value_info(name_out, TensorProto.FLOAT, [None])])
    ...     return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    >>> g = GraphBuilder()
    >>> y = g.add(double("a", "b"), {"a": "x"})["b"]
    >>> z = g.add(double("a", "b"), {"a": y})["b"]
    >>> model = g.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
    ...                 [helper.make_tensor_value_info(z, TensorProto.FLOAT, [None])])
    >>> ort.InferenceSession(model.SerializeToString()).run(None, {"x": np.ones(2, np.float32)})[0].tolist()
    [4.0, 4.0]
    """

    def __init__(self):
        self.nodes, self.initializers, self.opsets = [], [], {}
        self._count = itertools.count()

    def fresh(self, stem):
        """A tensor name no piece uses."""
        return f"{stem}__{next(self._count)}"

    def add(self, piece, feeds):
        """Add ``piece`` (an ONNX model) reading ``feeds`` (its input name -> a tensor already here).

        Returns
        -------
        dict
            Its output names -> their names in the graph being built.
        """
        from onnx.compose import add_prefix

        prefix = f"p{next(self._count)}/"
        piece = add_prefix(piece, prefix)
        graph = piece.graph
        missing = {i.name[len(prefix):] for i in graph.input} - set(feeds) - {t.name[len(prefix):]
                                                                           for t in graph.initializer}
        if missing:
            raise ValueError(f"inputs {sorted(missing)} of a piece are not fed")
        for inner, outer in feeds.items():
            self.node("Identity", [outer], [prefix + inner])
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        for opset in piece.opset_import:
            self.opsets[opset.domain] = max(self.opsets.get(opset.domain, 0), opset.version)
        return {o.name[len(prefix):]: o.name for o in graph.output}

    def node(self, op, inputs, outputs, **attributes):
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, outputs, **attributes))
        return outputs[0]

    def constant(self, value, dtype):
        import numpy as np
        from onnx import numpy_helper

        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def model(self, inputs, outputs, name="hybridtl"):
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.initializers)
        opsets = [helper.make_opsetid(domain, version) for domain, version in sorted(self.opsets.items())]
        return helper.make_model(graph, opset_imports=opsets, producer_name="hybridtl")
