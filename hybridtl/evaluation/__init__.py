"""Evaluation: predictions with the image work done once, the prediction table, which images a model gets
wrong (interpretation), pictures of results, the side-by-side benchmark of recipes (each to the end, or
within a time budget), and scikit-learn's estimator checks shaped for images."""

from ..core import GRID_MODES, align_labels, labels_from_proba
from ._bench import run_benchmark, run_budgeted, run_seeds, split_three
from ._image_checks import EQUIVALENTS, image_checks, make_images
from ._interpretation import ClassificationInterpretation
from ._plots import plot_confusion_matrix, plot_summary
from ._predictions import labels_and_proba, prediction_table

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._bench import COLUMNS as COLUMNS, PeakRSS as PeakRSS, searches as searches, shared_extraction as shared_extraction
from ._plots import plot_image_grid as plot_image_grid

ClassificationInterpretation.__module__ = __name__  # its public home, as saved files and pickles name it

__all__ = [
    "EQUIVALENTS", "GRID_MODES", "ClassificationInterpretation", "align_labels", "image_checks",
    "labels_and_proba", "labels_from_proba", "make_images", "plot_confusion_matrix", "plot_summary",
    "prediction_table", "run_benchmark", "run_budgeted", "run_seeds", "split_three",
]
