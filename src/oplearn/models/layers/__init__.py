"""Building blocks shared by the neural operators."""

from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.padding import DomainPadding
from oplearn.models.layers.pointwise import ChannelLinear, ChannelMLP
from oplearn.models.layers.spectral_conv import SpectralConv

__all__ = ["ChannelLinear", "ChannelMLP", "DomainPadding", "GridEmbedding", "SpectralConv"]
