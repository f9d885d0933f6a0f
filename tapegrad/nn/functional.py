"""Functional forms of tapegrad.nn layers and losses (PyTorch's ``torch.nn.functional``).

The implementations live in ``tapegrad._ops``; this module re-exports them under PyTorch's
names and signatures.
"""

from tapegrad._ops.activation import gelu as gelu
from tapegrad._ops.activation import leaky_relu as leaky_relu
from tapegrad._ops.activation import leaky_relu_ as leaky_relu_
from tapegrad._ops.activation import log_softmax as log_softmax
from tapegrad._ops.activation import relu as relu
from tapegrad._ops.activation import relu_ as relu_
from tapegrad._ops.activation import sigmoid as sigmoid
from tapegrad._ops.activation import silu as silu
from tapegrad._ops.activation import softmax as softmax
from tapegrad._ops.activation import softplus as softplus
from tapegrad._ops.activation import tanh as tanh
from tapegrad._ops.bilinear import bilinear as bilinear
from tapegrad._ops.conv import conv1d as conv1d
from tapegrad._ops.conv import conv2d as conv2d
from tapegrad._ops.dropout import dropout as dropout
from tapegrad._ops.embedding import embedding as embedding
from tapegrad._ops.linalg import linear as linear
from tapegrad._ops.loss import binary_cross_entropy as binary_cross_entropy
from tapegrad._ops.loss import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from tapegrad._ops.loss import cross_entropy as cross_entropy
from tapegrad._ops.loss import l1_loss as l1_loss
from tapegrad._ops.loss import mse_loss as mse_loss
from tapegrad._ops.loss import nll_loss as nll_loss
from tapegrad._ops.loss import smooth_l1_loss as smooth_l1_loss
from tapegrad._ops.norm import batch_norm as batch_norm
from tapegrad._ops.norm import layer_norm as layer_norm
from tapegrad._ops.padding import pad as pad
from tapegrad._ops.pool import adaptive_avg_pool2d as adaptive_avg_pool2d
from tapegrad._ops.pool import avg_pool2d as avg_pool2d
from tapegrad._ops.pool import max_pool2d as max_pool2d

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "relu_",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
]
