"""Denoising diffusion (DDPM, DDIM, DPM-Solver++): schedules, forward process, sampling loop, guidance.

Model, scheduler and loop live apart (diffusers' separation): :mod:`.schedules` holds no weights,
:mod:`.model` builds the networks, :mod:`.sampling` is the loop, :mod:`.method` trains through
``core.engine``. Nothing is imported or built at import time.
"""
