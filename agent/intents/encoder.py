"""A MiniLM sentence encoder whose top transformer layers can be fine-tuned cheaply on a CPU.

The frozen lower layers run once over the training texts; only the top layers and the head run in
each epoch. Sentences are mean-pooled over their tokens and normalised, as sentence-transformers does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

Matrix = npt.NDArray[np.float32]


def softmax(logits: npt.NDArray[np.floating]) -> Matrix:
    """Each row's probabilities (rows sum to one)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)


class IntentEncoder:
    """A BERT-style sentence encoder (all-MiniLM-L6-v2 by default) and a fine-tunable copy of its top layers.

    One pass gives two vectors per text: the untouched model's (as the knowledge base's embedder makes them)
    and the one whose top `tuned_layers` layers were fine-tuned for intents.
    """

    def __init__(self, model_path: str, *, max_seq_length: int, tuned_layers: int) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_path, local_files_only=True)
        self.model.eval()
        layers = len(self.model.encoder.layer)
        if not 0 <= tuned_layers <= layers:
            msg = f"tuned_layers must be between 0 and {layers} for {model_path}, got {tuned_layers}"
            raise ValueError(msg)
        if max_seq_length < 8:
            msg = f"max_seq_length must be at least 8, got {max_seq_length}"
            raise ValueError(msg)
        self.split = layers - tuned_layers
        self.max_seq_length = max_seq_length
        self.dimension = int(self.model.config.hidden_size)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.top_layers = nn.ModuleList(copy.deepcopy(list(self.model.encoder.layer)[self.split :]))
        self.top_layers.eval()

    def _batches(self, texts: Sequence[str], batch_size: int) -> list[list[int]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def _tokens(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                list(texts), padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="pt"
            )
        )

    def lower_states(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[torch.Tensor], Matrix]:
        """The hidden states entering the first tuned layer (one `(tokens, dim)` tensor per text), and the
        untouched model's sentence vectors."""
        states: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        base = np.zeros((len(texts), self.dimension), dtype=np.float32)
        self.model.eval()
        with torch.no_grad():
            for batch in self._batches(texts, batch_size):
                tokens = self._tokens([texts[i] for i in batch])
                output = self.model(**tokens, output_hidden_states=True)
                mask = tokens["attention_mask"].to(output.last_hidden_state.dtype)
                base[batch] = _mean_pool(output.last_hidden_state, mask).numpy()
                hidden = output.hidden_states[self.split]
                lengths = tokens["attention_mask"].sum(dim=1).tolist()
                for row, index in enumerate(batch):
                    states[index] = hidden[row, : int(lengths[row])].clone()
        return states, base

    def pool_top(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        """Run the tuned layers over lower states and return normalised mean-pooled sentence vectors."""
        width = max(int(state.shape[0]) for state in states)
        hidden = states[0].new_zeros((len(states), width, self.dimension))
        mask = torch.zeros((len(states), width), dtype=hidden.dtype)
        for row, state in enumerate(states):
            hidden[row, : state.shape[0]] = state
            mask[row, : state.shape[0]] = 1.0
        return self._run_top(hidden, mask, list(self.top_layers))

    @staticmethod
    def _run_top(hidden: torch.Tensor, mask: torch.Tensor, layers: Sequence[nn.Module]) -> torch.Tensor:
        additive = (1.0 - mask[:, None, None, :]) * torch.finfo(hidden.dtype).min
        for layer in layers:
            output = layer(hidden, attention_mask=additive)
            hidden = output[0] if isinstance(output, tuple) else output
        return _mean_pool(hidden, mask)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Matrix:
        """Normalised sentence vectors of `texts` through the encoder with its fine-tuned top layers."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        self.model.eval()
        self.top_layers.eval()
        lower = list(self.model.encoder.layer)[: self.split]
        with torch.inference_mode():
            for batch in self._batches(texts, batch_size):
                tokens = self._tokens([texts[i] for i in batch])
                hidden = self.model.embeddings(
                    input_ids=tokens["input_ids"], token_type_ids=tokens.get("token_type_ids")
                )
                mask = tokens["attention_mask"].to(hidden.dtype)
                out[batch] = self._run_top(hidden, mask, [*lower, *self.top_layers]).numpy()
        return out

    def tuned_state(self) -> dict[str, torch.Tensor]:
        """The weights of the tuned layers."""
        return {key: value.detach().clone().contiguous() for key, value in self.top_layers.state_dict().items()}

    def load_tuned_state(self, state: dict[str, torch.Tensor]) -> None:
        """Put saved tuned-layer weights back; the keys must be those of `tuned_state`."""
        expected = set(self.top_layers.state_dict())
        if set(state) != expected:
            msg = f"the saved encoder layers do not match: expected {len(expected)} tensors, got {len(state)}"
            raise ValueError(msg)
        self.top_layers.load_state_dict(state)


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    summed = (hidden * mask[:, :, None]).sum(dim=1)
    pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    return nn.functional.normalize(pooled, dim=-1)
