"""The layers of ``tapegrad.nn``, one module per family as in PyTorch."""

from tapegrad.nn.modules.activation import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from tapegrad.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from tapegrad.nn.modules.container import ModuleDict, ModuleList, Sequential
from tapegrad.nn.modules.conv import Conv1d, Conv2d
from tapegrad.nn.modules.dropout import Dropout
from tapegrad.nn.modules.flatten import Flatten, Unflatten
from tapegrad.nn.modules.linear import Bilinear, Identity, Linear
from tapegrad.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from tapegrad.nn.modules.module import Module
from tapegrad.nn.modules.normalization import LayerNorm
from tapegrad.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tapegrad.nn.modules.sparse import Embedding

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Bilinear",
    "Conv1d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "Unflatten",
]
