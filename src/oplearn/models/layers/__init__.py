"""Building blocks shared by the neural operators."""

from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.padding import DomainPadding
from oplearn.models.layers.spectral_conv import SpectralConv

__all__ = ["DomainPadding", "GridEmbedding", "SpectralConv"]
