"""The op table (``_registry.defop``/``dispatch``) and every op declared in it, by family."""
