"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, ``init``."""
