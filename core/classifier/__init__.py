"""Small CNN classifiers of GenLab's worlds, used by ``core.metrics`` (FID/KID features, class accuracy)."""
