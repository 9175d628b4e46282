"""Backbones, the shared tokenizer and answer heads.

Import what you need from the submodules (``models.registry``,
``models.tokenization``, ``models.heads``); this package itself imports
nothing, so importing it never pulls in torch.
"""
