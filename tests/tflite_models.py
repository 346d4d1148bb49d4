"""Toy ``.tflite`` models whose outputs are exact numpy expressions, for the TFLite encoder's tests.

They are written with the package's TFLite writer (`hear_wrappers.core.tflite_writer`, which also makes
the random-weight SoundStream stand-in):

* `write_linear_encoder` (stateless): each invoke returns ``W @ frame`` (optionally a second output
  ``W2 @ frame``, optionally quantized to int8);
* `write_accumulating_encoder` (stateful): each invoke returns ``state + W @ frame`` and keeps it as the
  new state, in a TFLite *resource variable* initialised by a ``CALL_ONCE`` subgraph, the mechanism
  Lyra's streaming SoundStream encoder uses (``reset_all_variables`` does not reset it);
* `write_toy_quantizer`: Lyra's quantizer interface (signatures ``encode``/``decode``), with
  ``encode`` giving the first 46 values of the frame truncated to integers and ``decode`` giving the
  indices back as floats, zero-padded to 64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hear_wrappers.core.tflite_writer import ModelBuilder


def write_linear_encoder(
    path: Path,
    weights: np.ndarray,
    *,
    output_shape: tuple[int, ...] | None = None,
    second_weights: np.ndarray | None = None,
    quantize: tuple[float, int] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Path:
    """A stateless encoder: input ``[1, n]`` (``n = weights.shape[1]``) -> ``W @ x``.

    Args:
        path: where to write the ``.tflite`` file.
        weights: ``W``, ``[dim, n]``.
        output_shape: shape of the embedding output (default ``[1, dim]``).
        second_weights: if given, a second output ``"second"`` (tensor ``"emb_b"``) with ``W2 @ x``.
        quantize: ``(scale, zero_point)``: the first output is int8, ``round(W x / scale) + zp``.
        input_shape: shape of the input tensor (default ``[1, n]``); must hold ``n`` values.

    Signature ``serving_default``: input ``"audio"``, outputs ``"first"`` (tensor ``"emb_a"``) and,
    with ``second_weights``, ``"second"`` (tensor ``"emb_b"``).
    """
    model = ModelBuilder("hear-wrappers test model")
    ops, schema = model.schema.BuiltinOperator, model.schema
    graph = model.graph("main")
    dim, n = weights.shape
    x = graph.tensor("audio_in", input_shape or (1, n))
    flat = graph.reshape(x, (1, n), "flat") if input_shape else x
    y = graph.fully_connected(flat, weights, "linear")
    y = graph.reshape(y, output_shape or (1, dim), "emb_a_float" if quantize else "emb_a")
    if quantize is not None:
        q = graph.tensor("emb_a", output_shape or (1, dim), np.int8, quantization=quantize)
        graph.op(ops.QUANTIZE, [y], [q], schema.QuantizeOptionsT())
        y = q
    outputs = {"first": y}
    if second_weights is not None:
        outputs["second"] = graph.fully_connected(flat, second_weights, "emb_b")
    graph.sub.inputs, graph.sub.outputs = [x], list(outputs.values())
    model.signature("serving_default", graph, {"audio": x}, outputs)
    return model.write(path)


def write_accumulating_encoder(
    path: Path, weights: np.ndarray, initial: np.ndarray, *, output_shape: tuple[int, ...] | None = None
) -> Path:
    """A stateful encoder: invoke ``k`` returns ``s_k = s_{k-1} + W @ x_k`` with ``s_{-1} = initial``.

    The state lives in a resource variable (``VAR_HANDLE``/``READ_VARIABLE``/``ASSIGN_VARIABLE``)
    that a ``CALL_ONCE`` init subgraph sets to ``initial`` on the interpreter's first invoke.
    Signature ``serving_default``: input ``"audio"``, output ``"output_0"``.
    """
    dim, n = weights.shape
    model = ModelBuilder("hear-wrappers test model")
    ops, schema = model.schema.BuiltinOperator, model.schema
    graph = model.graph("main")
    init = model.graph("init")

    # init: state = initial, once per interpreter.
    init.assign_variable(
        init.variable_handle("state", "init/handle"),
        init.const("init/value", initial.astype(np.float32).reshape(1, dim)),
    )

    x = graph.tensor("audio_in", (1, n))
    once = schema.CallOnceOptionsT()
    once.initSubgraphIndex = 1
    graph.op(ops.CALL_ONCE, [], [], once)
    handle, state = graph.read_variable("state", (1, dim), "state/read")
    y = graph.fully_connected(x, weights, "linear")
    new_state = graph.binary(ops.ADD, state, y, "state/new", (1, dim))
    graph.assign_variable(handle, new_state)
    out = graph.reshape(new_state, output_shape or (1, dim), "embedding")
    graph.sub.inputs, graph.sub.outputs = [x], [out]
    model.signature("serving_default", graph, {"audio": x}, {"output_0": out})
    return model.write(path)


def write_toy_quantizer(path: Path, *, dim: int = 64, max_quantizers: int = 46, bits: int = 4) -> Path:
    """Lyra's quantizer interface with toy arithmetic (see the module docs).

    ``encode(input_frames [1, 1, dim] float32, num_quantizers [] int32)`` -> ``output_0`` ``[46, 1, 1]``
    int32 = ``trunc(frame[:46])`` (``num_quantizers`` is ignored), ``output_1`` ``[]`` int32 = ``bits``;
    ``decode(encoding_indices [46, 1, 1] int32)`` -> ``output_0`` ``[1, 1, dim]`` = the indices as
    floats, zero-padded.
    """
    model = ModelBuilder("hear-wrappers test model")
    ops, schema = model.schema.BuiltinOperator, model.schema
    decode = model.graph("decode")
    indices = decode.tensor("decode_encoding_indices", (max_quantizers, 1, 1), np.int32)
    as_float = decode.cast(indices, "decode/float", (max_quantizers, 1, 1), np.int32, np.float32)
    row = decode.reshape(as_float, (1, 1, max_quantizers), "decode/row")
    paddings = decode.const(
        "decode/paddings", np.array([[0, 0], [0, 0], [0, dim - max_quantizers]], np.int32)
    )
    frame = decode.tensor("decode_output", (1, 1, dim))
    decode.op(ops.PAD, [row, paddings], [frame], schema.PadOptionsT())
    decode.sub.inputs, decode.sub.outputs = [indices], [frame]

    encode = model.graph("encode")
    frames = encode.tensor("encode_input_frames", (1, 1, dim))
    count = encode.tensor("encode_num_quantizers", (), np.int32)
    first = encode.tensor("encode/first", (1, 1, max_quantizers))
    encode.op(
        ops.SLICE,
        [
            frames,
            encode.const("begin", np.zeros(3, np.int32)),
            encode.const("size", np.array([1, 1, max_quantizers], np.int32)),
        ],
        [first],
        schema.SliceOptionsT(),
    )
    as_int = encode.cast(first, "encode/int", (1, 1, max_quantizers), np.float32, np.int32)
    codes = encode.reshape(as_int, (max_quantizers, 1, 1), "encode_output_0", np.int32)
    bits_out = encode.binary(
        ops.ADD,
        encode.const("bits", np.array(bits, np.int32)),
        encode.const("zero", np.array(0, np.int32)),
        "encode_output_1",
        (),
        np.int32,
    )
    encode.sub.inputs, encode.sub.outputs = [frames, count], [codes, bits_out]

    model.signature("decode", decode, {"encoding_indices": indices}, {"output_0": frame})
    model.signature(
        "encode",
        encode,
        {"input_frames": frames, "num_quantizers": count},
        {"output_0": codes, "output_1": bits_out},
    )
    return model.write(path)
