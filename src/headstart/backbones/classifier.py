"""``EncoderClassifier``: a backbone encoder + dropout + a new linear head, trained end to end (or in part).

``forward(batch)`` takes the encoder's prepared batch dict and returns logits. BatchNorm layers whose
parameters are all frozen stay in eval mode even while the classifier trains, so their running statistics
(computed on the pre-training data) are not overwritten by small-batch statistics of the new data.
"""

from __future__ import annotations

from torch import Tensor, nn

from headstart.backbones.encoder import Encoder

__all__ = ["EncoderClassifier"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class EncoderClassifier(nn.Module):
    """encoder -> dropout -> linear head."""

    def __init__(self, encoder: Encoder, n_classes: int, *, dropout: float = 0.1, train_bn: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.train_bn = train_bn  # False: every BatchNorm keeps its pre-trained running statistics
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.embed_dim, n_classes)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.dropout(self.encoder(batch)))

    def frozen_batchnorms(self) -> list[nn.Module]:
        """BatchNorm modules whose statistics stay frozen: those of frozen blocks (all affine parameters
        frozen), or every one when ``train_bn`` is False."""
        out = []
        for m in self.encoder.modules():
            if isinstance(m, _BN):
                params = list(m.parameters(recurse=False))
                if not self.train_bn or all(not p.requires_grad for p in params):
                    out.append(m)
        return out

    def train(self, mode: bool = True) -> EncoderClassifier:
        super().train(mode)
        if mode:
            for m in self.frozen_batchnorms():
                m.eval()
        return self

    def set_trainable(self, group_names: set[str] | None) -> None:
        """Train the head plus the encoder block groups named in ``group_names`` (None: all of them)."""
        for name, params in self.encoder.block_groups():
            for p in params:
                p.requires_grad_(group_names is None or name in group_names)
        for p in self.head.parameters():
            p.requires_grad_(True)

    def trainable_share(self) -> tuple[int, int]:
        """(trainable parameters, all parameters)."""
        params = list(self.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
