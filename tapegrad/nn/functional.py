"""Functional forms of tapegrad.nn layers and losses (PyTorch's ``torch.nn.functional``)."""
