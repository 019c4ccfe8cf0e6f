"""The fine-tuned family: all-MiniLM-L6-v2 trained end to end on the labelled rows, one shared encoder
with a topic head and a stance head, exported to ONNX like the frozen encoder (``make finetune``).

Hyperparameters are fixed in the config's ``finetune`` section, written before the first run; there
is no inner search. Evaluation uses the same outer folds as every family (leave-one-article-out and
leave-one-batch-out), fine-tuning a fresh copy of the pretrained weights on each fold's training rows.
Needs torch (training time only); the exported model tags through onnxruntime like the encoder.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from karabakh_tagger.config import Config
from karabakh_tagger.data import LabelledData
from karabakh_tagger.encoder import INSTALL_HINT, PACKAGE, Heads, to_onnx, verified_weights
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

FAMILY = "finetuned"
TEMPERATURE = 20.0
"""Logits scale over the unit-length embedding (a fixed temperature, so the heads learn fast)."""
DESCRIPTION = "all-MiniLM-L6-v2 fine-tuned end to end, a topic and a stance head (ONNX)"


@dataclass
class FineTuned:
    """A fine-tuned encoder (a torch module with its heads) and the classes of each head."""

    module: Any
    classes: dict[str, list[str]]
    tokenizer: Any
    max_length: int

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> dict[str, np.ndarray]:
        """Probabilities per task, in torch (evaluation); the shipped model runs in onnxruntime."""
        import torch

        out: dict[str, list[np.ndarray]] = {task: [] for task in TASKS}
        self.module.eval()
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                ids, mask = _batch(self.tokenizer, texts[start:start + batch_size])
                logits = self.module(ids, mask)
                for task in TASKS:
                    out[task].append(torch.softmax(logits[task], dim=1).numpy())
        return {task: np.concatenate(parts) if parts else np.zeros((0, len(self.classes[task])))
                for task, parts in out.items()}


def _torch() -> Any:
    try:
        import torch
        from safetensors.torch import load as load_tensors
        from transformers import BertConfig, BertModel
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return torch, load_tensors, BertConfig, BertModel


def _batch(tokenizer: Any, texts: list[str]) -> tuple[Any, Any]:
    import torch

    encodings = tokenizer.encode_batch(texts)
    width = max((len(e.ids) for e in encodings), default=1)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.int64)
    for r, e in enumerate(encodings):
        ids[r, :len(e.ids)], mask[r, :len(e.ids)] = e.ids, 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _module(weights: dict[str, bytes], n_classes: dict[str, int]) -> Any:
    """The pretrained encoder with mean pooling, L2 norm and a linear head per task."""
    torch, load_tensors, bert_config, bert_model = _torch()
    config = bert_config.from_dict(json.loads(weights["config.json"]))
    config._attn_implementation = "eager"
    bert = bert_model(config, add_pooling_layer=False)
    missing, _ = bert.load_state_dict(load_tensors(weights["model.safetensors"]), strict=False)
    if missing:
        raise InputError(f"{PACKAGE}: the weights lack {missing[0]}; reinstall {PACKAGE}==0.1.0")

    class TwoHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.heads = torch.nn.ModuleDict({t: torch.nn.Linear(config.hidden_size, n)
                                              for t, n in n_classes.items()})

        def embed(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

        def forward(self, input_ids: Any, attention_mask: Any) -> dict[str, Any]:
            x = self.embed(input_ids, attention_mask)
            return {t: head(x) * TEMPERATURE for t, head in self.heads.items()}

    return TwoHeads()


def fine_tune(data: LabelledData, rows: np.ndarray, config: Config, desc: str | None = None) -> FineTuned:
    """Fine-tune a fresh copy of the verified weights on ``rows``, with the config's fixed settings."""
    from tokenizers import Tokenizer
    from tqdm import tqdm

    torch = _torch()[0]
    ft = config.finetune
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    weights = verified_weights()
    tokenizer = Tokenizer.from_str(weights["tokenizer.json"].decode("utf-8"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(ft.max_length)
    n_classes = {task: len(data.classes[task]) for task in TASKS}
    module = _module(weights, n_classes)
    losses = {task: torch.nn.CrossEntropyLoss(weight=torch.tensor(_balanced(data.y[task][rows], n),
                                                                   dtype=torch.float32))
              for task, n in n_classes.items()}
    optimizer = torch.optim.AdamW([
        {"params": module.bert.parameters(), "lr": ft.learning_rate},
        {"params": module.heads.parameters(), "lr": ft.head_learning_rate}], weight_decay=ft.weight_decay)
    steps = ft.epochs * -(-len(rows) // ft.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, steps)))
    texts = [data.texts[i] for i in rows]
    y = {task: torch.from_numpy(data.y[task][rows]) for task in TASKS}
    module.train()
    with tqdm(total=steps, desc=desc, unit="step", file=sys.stderr, disable=None if desc else True,
              leave=False) as bar:
        for _ in range(ft.epochs):
            order = rng.permutation(len(rows))
            for start in range(0, len(order), ft.batch_size):
                batch = order[start:start + ft.batch_size]
                ids, mask = _batch(tokenizer, [texts[i] for i in batch])
                logits = module(ids, mask)
                loss = sum(losses[t](logits[t], y[t][torch.from_numpy(batch)]) for t in TASKS)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
    return FineTuned(module.eval(), {t: list(data.classes[t]) for t in TASKS}, tokenizer, ft.max_length)


def _balanced(y: np.ndarray, n: int) -> np.ndarray:
    """scikit-learn's "balanced" class weights; a class absent from the rows gets weight 0."""
    counts = np.bincount(y, minlength=n).astype(float)
    return np.where(counts > 0, len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)


def export(model: FineTuned) -> tuple[bytes, Heads]:
    """The fine-tuned encoder (with pooling and norm) as ONNX bytes, and its heads (temperature in)."""
    torch = _torch()[0]

    class Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner.embed(input_ids, attention_mask)

    heads = Heads(model.classes,
                  {t: model.module.heads[t].weight.detach().numpy().astype(np.float64) * TEMPERATURE
                   for t in TASKS},
                  {t: model.module.heads[t].bias.detach().numpy().astype(np.float64) * TEMPERATURE
                   for t in TASKS})
    return to_onnx(Encoder(model.module)), heads
