"""pix2pix and CycleGAN: paired and unpaired image-to-image translation (``core/translation``).

networks.py (reference layout), losses.py, model.py (Translator, TranslationGAN), data.py, method.py (the engine's
Method), inference.py (test-time behaviour), official.py (``latest_net_G.pth`` files), evaluate.py, service.py
(the tab's plain functions). Nothing is loaded at import time.
"""
