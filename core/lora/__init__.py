"""Personalization of the text-to-image pipelines: LoRA (DreamBooth-style) and textual inversion."""
