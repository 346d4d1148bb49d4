"""Writing small ``.tflite`` models without TensorFlow: the maker of random-weight models for tests and
benchmarks.

A model whose official weights ship only as a TFLite file (Lyra's SoundStream encoder and quantizer)
cannot be rebuilt with random weights the way a PyTorch model can. This module writes TFLite
flatbuffers directly, with the schema that ``ai_edge_litert`` ships (``ai_edge_litert.schema_py_generated``)
and ``flatbuffers`` (both installed by the ``soundstream`` extra), so the registry's
``write_random_weights`` can produce a model with the official file's interface, state mechanism and
operators, but random weights:

* `ModelBuilder` / `GraphBuilder`: subgraphs, constant and variable tensors, operators, signatures;
* `write_streaming_encoder`: a causal streaming convolutional encoder (`StreamingConv` layers) that
  takes one block of audio per invoke and keeps each convolution's past inputs in a TFLite *resource
  variable*, initialised to zeros by a ``CALL_ONCE`` subgraph: the mechanism of Lyra's streaming
  SoundStream encoder (whose state ``reset_all_variables`` does not reset either);
* `write_residual_quantizer`: a residual vector quantizer with Lyra's ``quantizer.tflite`` interface
  (signatures ``encode`` and ``decode``).

The models are exact arithmetic on their weights (no training, no conversion), so a test can compute
what they must return with numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hear_wrappers.core.imports import require

__all__ = [
    "GraphBuilder",
    "ModelBuilder",
    "StreamingConv",
    "write_residual_quantizer",
    "write_streaming_encoder",
]

_EXTRA = "soundstream"  # the extra that installs ai-edge-litert (and with it flatbuffers)


def _schema() -> Any:
    """The TFLite flatbuffer schema's Python classes, shipped by ``ai_edge_litert``."""
    return require("ai_edge_litert.schema_py_generated", extra=_EXTRA)


class ModelBuilder:
    """A TFLite model under construction: buffers, operator codes, subgraphs and signatures.

    Make subgraphs with `graph` (the first one is the model's main subgraph), add signatures with
    `signature`, then `write` the file.

    Args:
        description: the model's description string, stored in the file.
    """

    def __init__(self, description: str = "hear-wrappers random-weight model") -> None:
        self.schema = _schema()
        self.description = description
        self.buffers: list[Any] = [self.schema.BufferT()]  # buffer 0: empty, for non-constant tensors
        self.codes: list[int] = []
        self.subgraphs: list[GraphBuilder] = []
        self.signatures: list[Any] = []

    def graph(self, name: str) -> GraphBuilder:
        """A new, empty subgraph (index: the number of subgraphs made before it)."""
        graph = GraphBuilder(self, name)
        self.subgraphs.append(graph)
        return graph

    def code(self, builtin: int) -> int:
        """Index of builtin operator ``builtin`` in the model's operator codes (added if new)."""
        if builtin not in self.codes:
            self.codes.append(builtin)
        return self.codes.index(builtin)

    def signature(
        self, key: str, graph: GraphBuilder, inputs: Mapping[str, int], outputs: Mapping[str, int]
    ) -> None:
        """A signature ``key`` running ``graph``, naming some of its tensors as inputs and outputs."""

        def maps(names: Mapping[str, int]) -> list[Any]:
            result = []
            for name, index in names.items():
                entry = self.schema.TensorMapT()
                entry.name, entry.tensorIndex = name, index
                result.append(entry)
            return result

        signature = self.schema.SignatureDefT()
        signature.signatureKey = key
        signature.subgraphIndex = self.subgraphs.index(graph)
        signature.inputs, signature.outputs = maps(inputs), maps(outputs)
        self.signatures.append(signature)

    def to_bytes(self) -> bytes:
        """The finished flatbuffer (file identifier ``TFL3``)."""
        schema = self.schema
        flatbuffers = require("flatbuffers", extra=_EXTRA)
        model = schema.ModelT()
        model.version = 3
        model.description = self.description
        model.buffers = self.buffers
        model.operatorCodes = []
        for builtin in self.codes:
            code = schema.OperatorCodeT()
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            code.version = 1
            model.operatorCodes.append(code)
        model.subgraphs = [graph.sub for graph in self.subgraphs]
        model.signatureDefs = self.signatures
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def write(self, path: str | Path) -> Path:
        """Write the model to ``path``; returns it."""
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path


class GraphBuilder:
    """A subgraph under construction: tensors (by index) and operators, run in the order added.

    Set ``sub.inputs`` and ``sub.outputs`` (tensor indices) before the model is written.
    """

    def __init__(self, model: ModelBuilder, name: str) -> None:
        self.model = model
        self.schema = model.schema
        self.sub = self.schema.SubGraphT()
        self.sub.name = name
        self.sub.tensors, self.sub.operators, self.sub.inputs, self.sub.outputs = [], [], [], []

    def _type(self, dtype: Any) -> int:
        types = self.schema.TensorType
        table = {
            np.dtype(np.float32): types.FLOAT32,
            np.dtype(np.int32): types.INT32,
            np.dtype(np.int8): types.INT8,
            np.dtype(np.bool_): types.BOOL,
        }
        return table[np.dtype(dtype)]

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: Any = np.float32,
        *,
        data: np.ndarray | None = None,
        resource: bool = False,
        quantization: tuple[float, int] | None = None,
    ) -> int:
        """A tensor: a constant if ``data`` is given, a resource handle if ``resource``; its index.

        Args:
            name: tensor name (what the interpreter's details report).
            shape: its shape.
            dtype: float32, int32, int8 or bool.
            data: the constant's values (stored in a buffer of the model).
            resource: a resource-variable handle (``VAR_HANDLE``'s output); ``shape`` should be ``()``.
            quantization: ``(scale, zero_point)`` of a quantized tensor.
        """
        tensor = self.schema.TensorT()
        tensor.name, tensor.shape = name, [int(d) for d in shape]
        tensor.type = self.schema.TensorType.RESOURCE if resource else self._type(dtype)
        if data is not None:
            buffer = self.schema.BufferT()
            buffer.data = np.ascontiguousarray(data, dtype=dtype).tobytes()
            self.model.buffers.append(buffer)
            tensor.buffer = len(self.model.buffers) - 1
        if quantization is not None:
            params = self.schema.QuantizationParametersT()
            params.scale, params.zeroPoint = [quantization[0]], [quantization[1]]
            tensor.quantization = params
        self.sub.tensors.append(tensor)
        return len(self.sub.tensors) - 1

    def const(self, name: str, data: np.ndarray) -> int:
        """A constant tensor holding ``data`` (its shape and dtype)."""
        return self.tensor(name, data.shape, data.dtype, data=data)

    def op(self, builtin: int, inputs: Sequence[int], outputs: Sequence[int], options: Any = None) -> None:
        """Append operator ``builtin`` (a ``BuiltinOperator``) with its ``...OptionsT`` ``options``."""
        operator = self.schema.OperatorT()
        operator.opcodeIndex = self.model.code(builtin)
        operator.inputs, operator.outputs = list(inputs), list(outputs)
        if options is not None:
            operator.builtinOptionsType = getattr(self.schema.BuiltinOptions, type(options).__name__[:-1])
            operator.builtinOptions = options
        self.sub.operators.append(operator)

    # -- a few operators with their options ---------------------------------------------------------

    def fully_connected(self, x: int, weights: np.ndarray, name: str, bias: np.ndarray | None = None) -> int:
        """``weights @ x + bias`` for ``x`` of shape ``[1, n]`` -> ``[1, weights.shape[0]]``."""
        weights = np.asarray(weights, np.float32)
        bias = np.zeros(weights.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)
        w = self.const(f"{name}/weights", weights)
        b = self.const(f"{name}/bias", bias)
        y = self.tensor(name, (1, weights.shape[0]))
        self.op(
            self.schema.BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y], self.schema.FullyConnectedOptionsT()
        )
        return y

    def reshape(self, x: int, shape: Sequence[int], name: str, dtype: Any = np.float32) -> int:
        """``x`` reshaped to ``shape``."""
        y = self.tensor(name, shape, dtype)
        options = self.schema.ReshapeOptionsT()
        options.newShape = list(shape)
        shape_tensor = self.const(f"{name}/shape", np.array(list(shape), np.int32))
        self.op(self.schema.BuiltinOperator.RESHAPE, [x, shape_tensor], [y], options)
        return y

    def binary(
        self, builtin: int, a: int, b: int, name: str, shape: Sequence[int], dtype: Any = np.float32
    ) -> int:
        """An element-wise operator of two tensors (``ADD``, ``SUB``, ``MUL``, ``MAXIMUM``, ``LESS``...)
        with broadcasting; its output ``name`` of ``shape`` and ``dtype``."""
        y = self.tensor(name, shape, dtype)
        options = {
            "ADD": "AddOptionsT",
            "SUB": "SubOptionsT",
            "MUL": "MulOptionsT",
            "MAXIMUM": "MaximumMinimumOptionsT",
            "LESS": "LessOptionsT",
            "NOT_EQUAL": "NotEqualOptionsT",
            "SQUARED_DIFFERENCE": "SquaredDifferenceOptionsT",
        }[_builtin_name(self.schema, builtin)]
        self.op(builtin, [a, b], [y], getattr(self.schema, options)())
        return y

    def cast(self, x: int, name: str, shape: Sequence[int], source: Any, target: Any) -> int:
        """``x`` (of dtype ``source``) converted to dtype ``target``."""
        y = self.tensor(name, shape, target)
        options = self.schema.CastOptionsT()
        options.inDataType, options.outDataType = self._type(source), self._type(target)
        self.op(self.schema.BuiltinOperator.CAST, [x], [y], options)
        return y

    def read_variable(self, shared_name: str, shape: Sequence[int], name: str) -> tuple[int, int]:
        """The current value of resource variable ``shared_name``: ``(handle, value)`` tensors."""
        handle = self.variable_handle(shared_name, f"{name}/handle")
        value = self.tensor(name, shape)
        self.op(
            self.schema.BuiltinOperator.READ_VARIABLE, [handle], [value], self.schema.ReadVariableOptionsT()
        )
        return handle, value

    def variable_handle(self, shared_name: str, name: str) -> int:
        """A handle to resource variable ``shared_name`` (the same variable in every subgraph)."""
        options = self.schema.VarHandleOptionsT()
        options.container, options.sharedName = "", shared_name
        handle = self.tensor(name, (), resource=True)
        self.op(self.schema.BuiltinOperator.VAR_HANDLE, [], [handle], options)
        return handle

    def assign_variable(self, handle: int, value: int) -> None:
        """Store ``value`` in the resource variable behind ``handle``."""
        self.op(
            self.schema.BuiltinOperator.ASSIGN_VARIABLE,
            [handle, value],
            [],
            self.schema.AssignVariableOptionsT(),
        )


def _builtin_name(schema: Any, builtin: int) -> str:
    for name, value in vars(schema.BuiltinOperator).items():
        if value == builtin and not name.startswith("_"):
            return name
    raise ValueError(f"unknown TFLite builtin operator {builtin}.")


@dataclass(frozen=True)
class StreamingConv:
    """One causal 1-D convolution of a streaming encoder.

    Attributes:
        weights: ``[out_channels, in_channels, kernel]`` float32.
        bias: ``[out_channels]`` float32.
        stride: time stride; the block's length at this layer must be a multiple of it.
        leaky_relu: slope of the ``LEAKY_RELU`` after the convolution (``None``: no activation).
    """

    weights: np.ndarray
    bias: np.ndarray
    stride: int = 1
    leaky_relu: float | None = None

    @property
    def past(self) -> int:
        """Input steps the layer keeps from one block to the next: ``kernel - stride``."""
        return max(0, self.weights.shape[2] - self.stride)


def write_streaming_encoder(
    path: str | Path,
    layers: Sequence[StreamingConv],
    *,
    frame_samples: int,
    output_shape: Sequence[int],
    input_name: str = "input_audio",
    output_name: str = "output_0",
    signature: str = "serving_default",
) -> Path:
    """A stateful streaming encoder: audio ``[1, frame_samples]`` per invoke -> one frame.

    The layers are causal convolutions over time, run block by block exactly as they would run over the
    whole stream: each layer concatenates the last ``kernel - stride`` input steps of the previous
    block (a resource variable, zeros at first) before the block's own, convolves without padding
    (``CONV_2D`` over ``[1, 1, time, channels]``), and keeps the new last steps. So invoke ``k``'s
    output is the whole-stream causal network's output for block ``k``, with the stream zero-padded
    on the left, and it depends on every block fed before it.

    Args:
        path: where to write the ``.tflite`` file.
        layers: the convolutions, first to last; the strides' product must be ``frame_samples`` /
            (the last layer's output steps), and the last layer's outputs times its channels must be
            ``prod(output_shape)``.
        frame_samples: samples per invoke (the input is ``[1, frame_samples]`` float32).
        output_shape: shape of the output tensor (e.g. ``(1, 1, 64)``).
        input_name: the signature's name of the audio input.
        output_name: the signature's name of the output.
        signature: the signature's key.

    Returns:
        ``path``.
    """
    model = ModelBuilder("hear-wrappers random-weight streaming encoder")
    schema = model.schema
    ops = schema.BuiltinOperator
    main = model.graph("main")
    init = model.graph("init")

    audio = main.tensor(f"serving_default_{input_name}:0", (1, frame_samples))
    once = schema.CallOnceOptionsT()
    once.initSubgraphIndex = 1
    main.op(ops.CALL_ONCE, [], [], once)
    x = main.reshape(audio, (1, 1, frame_samples, 1), "audio/nhwc")
    steps, channels = frame_samples, 1
    for index, layer in enumerate(layers):
        out_channels, in_channels, _ = layer.weights.shape
        if in_channels != channels or steps % layer.stride:
            raise ValueError(
                f"layer {index} takes {in_channels} channels with stride {layer.stride}; it gets {channels} "
                f"channels over {steps} steps."
            )
        name = f"conv{index}"
        if layer.past:
            shared = f"{name}/past"
            init_handle = init.variable_handle(shared, f"init/{name}/handle")
            zeros = init.const(f"init/{name}/zeros", np.zeros((1, 1, layer.past, channels), np.float32))
            init.assign_variable(init_handle, zeros)
            handle, past = main.read_variable(shared, (1, 1, layer.past, channels), f"{name}/past")
            joined = main.tensor(f"{name}/joined", (1, 1, layer.past + steps, channels))
            concat = schema.ConcatenationOptionsT()
            concat.axis = 2
            main.op(ops.CONCATENATION, [past, x], [joined], concat)
            kept = main.tensor(f"{name}/kept", (1, 1, layer.past, channels))
            slicing = schema.StridedSliceOptionsT()
            begin = main.const(f"{name}/begin", np.array([0, 0, steps, 0], np.int32))
            end = main.const(f"{name}/end", np.array([1, 1, steps + layer.past, channels], np.int32))
            ones = main.const(f"{name}/strides", np.ones(4, np.int32))
            main.op(ops.STRIDED_SLICE, [joined, begin, end, ones], [kept], slicing)
            main.assign_variable(handle, kept)
            x = joined
        steps = steps // layer.stride
        filters = main.const(
            f"{name}/filters", np.ascontiguousarray(layer.weights.transpose((0, 2, 1))[:, None], np.float32)
        )
        bias = main.const(f"{name}/bias", np.asarray(layer.bias, np.float32))
        y = main.tensor(name, (1, 1, steps, out_channels))
        conv = schema.Conv2DOptionsT()
        conv.padding = schema.Padding.VALID
        conv.strideW, conv.strideH = layer.stride, 1
        conv.dilationWFactor = conv.dilationHFactor = 1
        main.op(ops.CONV_2D, [x, filters, bias], [y], conv)
        if layer.leaky_relu is not None:
            activated = main.tensor(f"{name}/leaky_relu", (1, 1, steps, out_channels))
            leaky = schema.LeakyReluOptionsT()
            leaky.alpha = layer.leaky_relu
            main.op(ops.LEAKY_RELU, [y], [activated], leaky)
            y = activated
        x, channels = y, out_channels
    if steps * channels != math.prod(output_shape):
        raise ValueError(
            f"the layers give {steps} x {channels} values, not an output of {list(output_shape)}."
        )
    out = main.reshape(x, output_shape, "StatefulPartitionedCall:0")
    main.sub.inputs, main.sub.outputs = [audio], [out]
    model.signature(signature, main, {input_name: audio}, {output_name: out})
    return model.write(path)


def write_residual_quantizer(path: str | Path, codebooks: np.ndarray, *, bits: int) -> Path:
    """A residual vector quantizer with the interface of Lyra's ``quantizer.tflite``.

    With ``Q`` codebooks of ``K = 2 ** bits`` vectors of ``D`` values (``codebooks`` ``[Q, K, D]``):

    * ``encode(input_frames [1, 1, D] float32, num_quantizers [] int32)`` -> ``output_0`` ``[Q, 1, 1]``
      int32: stage ``q`` picks the vector of codebook ``q`` nearest (squared distance) to the
      residual left by stages ``0 .. q-1``, and subtracts it; the indices of stages ``q >=
      num_quantizers`` are -1, as Lyra's; ``output_1`` ``[]`` int32: ``bits``;
    * ``decode(encoding_indices [Q, 1, 1] int32)`` -> ``output_0`` ``[1, 1, D]``: the sum of the
      chosen vectors, an index of -1 adding nothing.

    Returns:
        ``path``.
    """
    codebooks = np.asarray(codebooks, np.float32)
    n_stages, size, dim = codebooks.shape
    if size != 2**bits:
        raise ValueError(f"codebooks of {size} vectors do not fit {bits} bits per index ({2**bits} vectors).")
    model = ModelBuilder("hear-wrappers random-weight residual vector quantizer")
    schema = model.schema
    ops = schema.BuiltinOperator
    int32, float32, boolean = np.int32, np.float32, np.bool_

    decode = model.graph("decode")
    indices = decode.tensor("decode_encoding_indices:0", (n_stages, 1, 1), int32)
    flat = decode.reshape(indices, (n_stages,), "decode/flat", int32)
    valid = decode.binary(
        ops.NOT_EQUAL,
        flat,
        decode.const("decode/minus_one", np.array(-1, int32)),
        "decode/valid",
        (n_stages,),
        boolean,
    )
    weight = decode.reshape(
        decode.cast(valid, "decode/valid_float", (n_stages,), boolean, float32),
        (n_stages, 1),
        "decode/weight",
    )
    clamped = decode.binary(
        ops.MAXIMUM,
        flat,
        decode.const("decode/zero", np.array(0, int32)),
        "decode/clamped",
        (n_stages,),
        int32,
    )
    offsets = decode.const("decode/offsets", np.arange(n_stages, dtype=int32) * size)
    rows = decode.binary(ops.ADD, clamped, offsets, "decode/rows", (n_stages,), int32)
    table = decode.const("decode/codebooks", codebooks.reshape(n_stages * size, dim))
    chosen = decode.tensor("decode/chosen", (n_stages, dim))
    decode.op(ops.GATHER, [table, rows], [chosen], schema.GatherOptionsT())
    kept = decode.binary(ops.MUL, chosen, weight, "decode/kept", (n_stages, dim))
    summed = decode.tensor("decode/sum", (dim,))
    decode.op(
        ops.SUM, [kept, decode.const("decode/axis", np.array([0], int32))], [summed], schema.ReducerOptionsT()
    )
    frame = decode.reshape(summed, (1, 1, dim), "StatefulPartitionedCall:0")
    decode.sub.inputs, decode.sub.outputs = [indices], [frame]

    encode = model.graph("encode")
    count = encode.tensor("encode_num_quantizers:0", (), int32)
    frames = encode.tensor("encode_input_frames:0", (1, 1, dim))
    residual = encode.reshape(frames, (1, dim), "encode/residual0")
    axis_one = encode.const("encode/axis1", np.array([1], int32))
    axis_zero = encode.const("encode/axis0", np.array([0], int32))
    picks = []
    for stage in range(n_stages):
        name = f"encode/stage{stage}"
        book = encode.const(f"{name}/codebook", codebooks[stage])
        squares = encode.binary(ops.SQUARED_DIFFERENCE, book, residual, f"{name}/squares", (size, dim))
        distance = encode.tensor(f"{name}/distance", (size,))
        encode.op(ops.SUM, [squares, axis_one], [distance], schema.ReducerOptionsT())
        pick = encode.tensor(f"{name}/index", (), int32)
        argmin = schema.ArgMinOptionsT()
        argmin.outputType = schema.TensorType.INT32
        encode.op(ops.ARG_MIN, [distance, axis_zero], [pick], argmin)
        picks.append(pick)
        if stage + 1 < n_stages:
            vector = encode.tensor(f"{name}/vector", (dim,))
            encode.op(ops.GATHER, [book, pick], [vector], schema.GatherOptionsT())
            residual = encode.binary(ops.SUB, residual, vector, f"encode/residual{stage + 1}", (1, dim))
    packed = encode.tensor("encode/indices", (n_stages,), int32)
    pack = schema.PackOptionsT()
    pack.valuesCount, pack.axis = n_stages, 0
    encode.op(ops.PACK, picks, [packed], pack)
    stages = encode.const("encode/stages", np.arange(n_stages, dtype=int32))
    sent = encode.binary(ops.LESS, stages, count, "encode/sent", (n_stages,), boolean)
    sent = encode.cast(sent, "encode/sent_int", (n_stages,), boolean, int32)
    # index where sent (1), -1 where not (0): index * sent + (sent - 1)
    masked = encode.binary(ops.MUL, packed, sent, "encode/masked", (n_stages,), int32)
    minus = encode.binary(
        ops.SUB, sent, encode.const("encode/one", np.array(1, int32)), "encode/minus", (n_stages,), int32
    )
    codes = encode.binary(ops.ADD, masked, minus, "encode/codes", (n_stages,), int32)
    codes = encode.reshape(codes, (n_stages, 1, 1), "StatefulPartitionedCall_1:0", int32)
    bits_out = encode.binary(
        ops.ADD,
        encode.const("encode/bits", np.array(bits, int32)),
        encode.const("encode/zero", np.array(0, int32)),
        "StatefulPartitionedCall_1:1",
        (),
        int32,
    )
    encode.sub.inputs, encode.sub.outputs = [count, frames], [bits_out, codes]

    model.signature("decode", decode, {"encoding_indices": indices}, {"output_0": frame})
    model.signature(
        "encode",
        encode,
        {"input_frames": frames, "num_quantizers": count},
        {"output_0": codes, "output_1": bits_out},
    )
    return model.write(path)
