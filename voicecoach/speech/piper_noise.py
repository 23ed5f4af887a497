"""Piper's noise, drawn from what is said: the same text gives the same samples.

A Piper (VITS) voice draws Gaussian noise inside the model (``RandomNormalLike``
nodes: the timbre noise scaled by ``noise_scale``, and the duration noise
scaled by ``noise_w``). onnxruntime seeds each such node's generator once, when
the session is made, and the generator runs on from one synthesis to the next:
so the same sentence sounded a little different every time, depending on what
the worker had said before. ``onnxruntime.set_seed`` only fixes where that
sequence starts, and a fresh session per utterance costs about a second.

So the model is changed in memory when it is loaded (with the ``onnx``
package, as piper-tts itself does for its alignment patch): every
``RandomNormalLike`` node becomes the start of a new graph input, a flat bank
of noise, reshaped to the node's shape. ``SeededSession`` fills each bank
with a generator seeded from a hash of that run's inputs (phoneme ids,
scales, speaker), so one run's noise depends on nothing else. The bank is
made long enough from the number of phoneme ids; should a run need more, the
graph repeats the bank (still the same noise for the same input).

A run uses only the first values of each bank (the graph also returns how
many), and a generator's first values do not depend on how many are drawn. So
``SeededSession`` draws about what a run will use, learnt from the runs
before (the duration noise needs 2 values per phoneme id, the timbre noise
some hundreds, against the 4096 per id of the full bank), and runs again
with the full bank in the rare case a run needed more: the samples are the
same as with the full bank every time, at a tenth of the drawing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

_NODE = "RandomNormalLike"
_FLOAT = 1  # TensorProto.FLOAT
# Noise values per phoneme id of the input, per unit of length_scale: the timbre noise
# has the model's hidden channels (192 for the joe voice) per audio frame, and a phoneme
# id lasts a few frames; measured here at most ~2,000 per id.
_VALUES_PER_ID = 4096
_SIZE_MARGIN = 1.25  # over the most a bank's runs used so far, per value of its guess
_SIZE_SLACK = 256  # values added to every guess


@dataclass(frozen=True)
class NoiseInput:
    """A graph input that replaced one ``RandomNormalLike`` node."""

    name: str
    mean: float
    scale: float
    size_output: str = ""  # the graph output saying how many of its values a run used


def seeded_noise_model(model_path: str) -> tuple[bytes, tuple[NoiseInput, ...]]:
    """The model at ``model_path`` with its noise as inputs: (serialised model, the inputs).

    Raises ``ImportError`` when the ``onnx`` package is missing.
    """
    import onnx
    from onnx import helper

    model = onnx.load(model_path)
    graph = model.graph
    inputs: list[NoiseInput] = []
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != _NODE or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        if int(attributes.get("dtype", _FLOAT)) != _FLOAT:
            raise ValueError(f"{node.name}: only float noise can be seeded")
        bank = f"voicecoach_noise_{len(inputs)}"
        names = ("shape", "size", "zero", "one", "length", "over", "reps", "tiled", "flat")
        shape, size, zero, one, length, over, reps, tiled, flat = (f"{bank}_{n}" for n in names)
        nodes.extend(
            [
                # size = the number of values the node made: the product of its input's shape
                helper.make_node("Shape", [node.input[0]], [shape]),
                helper.make_node("ReduceProd", [shape], [size], keepdims=1),
                _int64_constant(zero, 0),
                _int64_constant(one, 1),
                # reps = ceil(size / length): the bank repeated when a run needs more
                helper.make_node("Shape", [bank], [length]),
                helper.make_node("Add", [size, length], [over]),
                helper.make_node("Sub", [over, one], [f"{over}_1"]),
                helper.make_node("Div", [f"{over}_1", length], [reps]),
                helper.make_node("Tile", [bank, reps], [tiled]),
                helper.make_node("Slice", [tiled, zero, size], [flat]),
                helper.make_node("Reshape", [flat, shape], [node.output[0]]),
            ]
        )
        graph.input.append(helper.make_tensor_value_info(bank, onnx.TensorProto.FLOAT, ["n"]))
        graph.output.append(helper.make_tensor_value_info(size, onnx.TensorProto.INT64, [1]))
        inputs.append(
            NoiseInput(
                name=bank,
                mean=float(attributes.get("mean", 0.0)),
                scale=float(attributes.get("scale", 1.0)),
                size_output=size,
            )
        )
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString(), tuple(inputs)


class SeededSession:
    """An onnxruntime session whose noise inputs are filled from a hash of each run's inputs.

    Stands in for ``onnxruntime.InferenceSession`` inside ``PiperVoice`` (which
    only calls ``run``). Not for several threads at once.
    """

    def __init__(self, session: Any, noise_inputs: tuple[NoiseInput, ...]) -> None:
        self.session = session
        self.noise_inputs = noise_inputs
        # per noise input: the most values a run used, per phoneme id and unit of length_scale
        self._used_per_id = [0.0 for _ in noise_inputs]
        self.full_bank_runs = 0  # runs made again with full banks (for tests)

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[Any]:
        ids = np.asarray(feeds["input"])
        scales = np.asarray(feeds.get("scales", np.ones(3, np.float32)), dtype=np.float32)
        length_scale = max(1.0, float(scales[1]) if scales.size > 1 else 1.0)
        full = int(ids.size * _VALUES_PER_ID * length_scale) + _VALUES_PER_ID
        seed = _run_seed(feeds)
        wanted = (
            [o.name for o in self.session.get_outputs()[: self._model_outputs()]]
            if output_names is None
            else list(output_names)
        )
        sizes = [n.size_output for n in self.noise_inputs if n.size_output]
        counted = len(sizes) == len(self.noise_inputs)
        drawn = [
            min(full, int(ids.size * length_scale * per_id * _SIZE_MARGIN) + _SIZE_SLACK)
            if counted and per_id > 0
            else full
            for per_id in self._used_per_id
        ]
        while True:
            noise = {
                n.name: _noise(seed, index, drawn[index], n.mean, n.scale)
                for index, n in enumerate(self.noise_inputs)
            }
            results = list(self.session.run(wanted + sizes, {**feeds, **noise}))
            if not counted:
                return results[: len(wanted)]
            used = [int(np.asarray(r).reshape(-1)[0]) for r in results[len(wanted) :]]
            for index, values in enumerate(used):
                per_id = values / (ids.size * length_scale)
                self._used_per_id[index] = max(self._used_per_id[index], per_id)
            short = [i for i, values in enumerate(used) if values > drawn[i] and drawn[i] < full]
            if not short:
                return results[: len(wanted)]
            # This run needed more than was drawn: again with the full bank, as if never guessed.
            self.full_bank_runs += 1
            for index in short:
                drawn[index] = full

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def get_outputs(self) -> Any:
        return self.session.get_outputs()[: self._model_outputs()]

    def _model_outputs(self) -> int:
        """How many of the session's outputs are the model's own (the noise counts come last)."""
        return len(self.session.get_outputs()) - sum(1 for n in self.noise_inputs if n.size_output)


def _int64_constant(name: str, value: int) -> object:
    from onnx import TensorProto, helper

    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [1], [value])
    )


def _run_seed(feeds: dict[str, np.ndarray]) -> int:
    digest = hashlib.sha256()
    for name in sorted(feeds):
        value = np.ascontiguousarray(feeds[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape}:".encode())
        digest.update(value.tobytes())
    return int.from_bytes(digest.digest()[:8], "little")


def _noise(seed: int, index: int, values: int, mean: float, scale: float) -> np.ndarray:
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    noise = generator.standard_normal(values, dtype=np.float32)
    if scale != 1.0 or mean != 0.0:
        noise = noise * np.float32(scale) + np.float32(mean)
    return noise
