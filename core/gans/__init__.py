"""GAN variants on one small convolutional family: DCGAN, LSGAN, WGAN, WGAN-GP, hinge, the conditional GAN
(concatenation or projection, spectral norm, feature matching) and progressive growing (ProGAN).

- ``networks.py``: the DCGAN generator and discriminator (conditioning, norms, spectral norm as switches).
- ``progressive.py``: the ProGAN generator and discriminator (fade-in, minibatch std, equalized lr, pixel norm).
- ``losses.py``: each paper's losses, the gradient penalty, weight clipping, feature matching.
- ``method.py``: one engine Method whose config picks the variant; ``evaluate.py``: the card's measurements.
- ``service.py``: the validated functions behind the GAN tab and ``/gan_generate``.
"""
