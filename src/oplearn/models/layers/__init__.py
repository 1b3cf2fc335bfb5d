"""Building blocks shared by the neural operators, one concept per module."""

from oplearn.models.layers.attention import AttentionBlock, SoftmaxFreeAttention
from oplearn.models.layers.conv_block import ConvBlock
from oplearn.models.layers.differential import DifferentialConv
from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.factorized import CPTensor, TTTensor, TuckerTensor, factorized_tensor
from oplearn.models.layers.local_integral import LocalIntegralConv
from oplearn.models.layers.local_kernels import LocalKernels
from oplearn.models.layers.mlp import MLP
from oplearn.models.layers.padding import DomainPadding
from oplearn.models.layers.physics_attention import PhysicsAttention
from oplearn.models.layers.pointwise import ChannelLinear, ChannelMLP
from oplearn.models.layers.sensors import SensorSampler
from oplearn.models.layers.spectral_conv import SpectralConv
from oplearn.models.layers.vcycle import VCycle

__all__ = [
    "MLP", "AttentionBlock", "CPTensor", "ChannelLinear", "ChannelMLP", "ConvBlock",
    "DifferentialConv", "DomainPadding", "GridEmbedding", "LocalIntegralConv", "LocalKernels",
    "PhysicsAttention", "SensorSampler", "SoftmaxFreeAttention", "SpectralConv", "TTTensor",
    "TuckerTensor", "VCycle", "factorized_tensor",
]
