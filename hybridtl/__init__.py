"""hybridtl: transfer learning on images, as frozen-CNN features for scikit-learn heads or as fine-tuning."""

from .backbones import list_backbones, load_backbone
from .features import CNNFeatureExtractor
from .finetune import FineTuneClassifier
from .images import load_image_folder

__version__ = "0.1.0"

__all__ = ["CNNFeatureExtractor", "FineTuneClassifier", "list_backbones", "load_backbone", "load_image_folder", "__version__"]
