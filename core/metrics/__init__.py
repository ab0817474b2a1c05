"""Evaluation metrics inside GenLab's worlds, measured with the bundled classifiers.

- :func:`load_feature_extractor` (features.py): penultimate features of ``checkpoints/classifier/<world>``.
- :func:`frechet_distance`, :func:`kernel_inception_distance` (fid.py): FID / KID **in <world>-classifier
  features (not Inception), comparable only within GenLab**.
- :func:`class_accuracy` (accuracy.py): how often the bundled classifier agrees with the class a
  conditional generator was asked for; :func:`label_accuracy` the same for the one head that reads a
  world's class label (digits: the digit; faces: the hair style).
- :func:`precision_recall`, :func:`density_coverage` (manifold.py): k-NN manifold metrics on feature vectors
  (fidelity vs diversity: a mode-collapsed model keeps precision and loses recall).
- :func:`classifier_score` (score.py): the Inception-Score-style score in a world classifier's class head.
- :func:`attribute_coverage` (coverage.py): how often each attribute value appears in generated vs
  real images (the classifier's readings), and their total variation distance: dropped modes.

Nothing is loaded at import time.
"""

from .accuracy import LABEL_HEADS, class_accuracy, label_accuracy, label_head, predict
from .coverage import attribute_coverage, coverage_table, under_drawn, value_frequencies
from .features import ClassifierFeatures, load_classifier, load_feature_extractor
from .fid import frechet_distance, kernel_inception_distance, reference_images, to_uint8
from .manifold import density_coverage, precision_recall
from .score import classifier_score

__all__ = ["LABEL_HEADS", "class_accuracy", "label_accuracy", "label_head", "predict", "attribute_coverage",
           "coverage_table",
           "under_drawn", "value_frequencies", "classifier_score", "precision_recall", "density_coverage",
           "ClassifierFeatures", "load_classifier",
           "load_feature_extractor", "frechet_distance", "kernel_inception_distance", "reference_images", "to_uint8"]
