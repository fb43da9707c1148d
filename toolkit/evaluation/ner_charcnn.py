"""The character CNN tagger (torch, the ``[train]`` extra; imported only by ``eval/ner/train.py`` and
``eval/bench/bench_ner.py``, never by the library: importing ``toolkit`` or ``toolkit.evaluation`` does not
import torch).

Embedding → 1×1 projection → residual blocks of dilated 1-D convolutions (kernel 3, dilations
1, 2, 4, 1: a receptive field of 17 characters) with ReLU and layer norm → per-character tag
scores. Convolutional taggers beat a from-scratch tiny transformer on this kind of data
(see ../shared/reference/clinical-nlp-notes.md §2); the run log of this one is in train.py's output.
"""

from __future__ import annotations

import torch
from torch import nn

STATIC_OPS = ("Conv", "Relu")
"""Statically quantised: the four dilated convolutions (ReLU fused, ~80 % of the non-LSTM FLOPs). The BiLSTM is
quantised dynamically (per-channel int8 weights; no static LSTM kernel); the first projection (raw embedding rows
in) and the 9-tag output layer stay fp32 (small; the usual first/last-layer exception)."""


class _Block(nn.Module):
    def __init__(self, width: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel_size=3, padding=dilation, dilation=dilation)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, length, width)
        # ReLU right after the convolution (before the transpose; the same function): static int8 then fuses it
        # into QLinearConv, whose output range excludes the negatives ReLU drops (finer steps)
        y = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.norm(x + self.drop(y))


class CharCNN(nn.Module):
    """``forward(ids: int64 (batch, length)) -> float32 (batch, length, tags)``."""

    def __init__(
        self,
        vocab_size: int,
        n_tags: int,
        emb: int = 96,
        width: int = 192,
        dilations: tuple[int, ...] = (1, 2, 4, 1),
        dropout: float = 0.2,
        arch: str = "cnn",
    ):
        super().__init__()
        self.config = {
            "vocab_size": vocab_size,
            "n_tags": n_tags,
            "emb": emb,
            "width": width,
            "dilations": list(dilations),
            "dropout": dropout,
            "arch": arch,
        }
        self.arch = arch
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.proj = nn.Linear(emb, width)
        if arch == "transformer":  # comparison run only: 2 pre-norm encoder layers, learned positions
            self.pos = nn.Embedding(1024, width)
            layer = nn.TransformerEncoderLayer(
                width, nhead=4, dim_feedforward=2 * width, dropout=dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.blocks = nn.ModuleList()
        else:
            self.blocks = nn.ModuleList([_Block(width, d, dropout) for d in dilations])
        if arch == "cnn_bilstm":  # comparison run: a BiLSTM over the CNN features
            self.lstm = nn.LSTM(width, width // 2, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, n_tags)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Tag logits of shape (batch, length, n_tags) for character ids (batch, length); id 0 is padding."""
        # padding is zeroed after every layer, so a text scores the same alone or in a padded batch
        mask = (ids != 0).unsqueeze(-1).to(torch.float32)
        x = self.drop(self.proj(self.emb(ids))) * mask
        if self.arch == "transformer":
            positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            x = self.encoder(x + self.pos(positions), src_key_padding_mask=ids == 0) * mask
        for block in self.blocks:
            x = block(x) * mask
        if self.arch == "cnn_bilstm":
            x = self.lstm(x)[0] * mask
        return self.out(x)
