"""Layers with fused native steps: :class:`EmbeddingBag` (row-sparse updates)."""

from __future__ import annotations

from msopt.nn.embedding import EmbeddingBag

__all__ = ["EmbeddingBag"]
