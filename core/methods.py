"""Registry of trainable methods: name -> "module:Class" (imported only when used)."""

from __future__ import annotations

import importlib

METHODS = {
    "vae": "core.vae.method:VAEMethod",
    "diffusion": "core.diffusion.method:DiffusionMethod",
    "stylegan": "core.stylegan.method:StyleGANMethod",
    "classifier": "core.classifier.method:ClassifierMethod",
    "translation": "core.translation.method:TranslationMethod",
    "autoencoder": "core.text2image.autoencoder_method:AutoencoderMethod",
    "clip": "core.text2image.clip_method:ClipMethod",
    "text2image": "core.text2image.method:Text2ImageMethod",
    "gans": "core.gans.method:GANMethod",
}


def get_method_class(name: str):
    """The :class:`core.engine.Method` subclass registered as ``name`` (or given as "module:Class")."""
    if name not in METHODS and ":" not in name:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)} or give module:Class")
    module, cls = METHODS.get(name, name).split(":")
    return getattr(importlib.import_module(module), cls)
