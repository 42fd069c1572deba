"""DeepLabV3 with a ResNet-50 backbone (Chen et al. 2017), torchvision's definition.

The published segmentation benchmark is torchvision's ``deeplabv3_resnet50`` with 21 classes (20
PASCAL VOC classes plus background) and the auxiliary FCN head on ``layer3``: its module names
(``backbone.layer1.0.conv1``, ``classifier.0.convs.0.0``, ``aux_classifier.0``, ...) are those of
the published fault list and its 42,004,074 parameters the published size. Weights are never
downloaded: the network is built with random initialization.

:class:`DeepLabV3Out` returns the main head's logits as a plain ``(N, classes, H, W)`` tensor, the
output every engine and the segmentation classifier read. The auxiliary head is kept, so that the
state_dict and layer table are the published ones, but not run: only training reads its output, so
a fault in ``aux_classifier`` is masked by construction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.segmentation import deeplabv3_resnet50
from torchvision.models.segmentation.deeplabv3 import DeepLabV3

VOC_CLASSES = 21


class DeepLabV3Out(DeepLabV3):  # type: ignore[misc]  # torchvision ships no types: its classes are Any
    """torchvision's DeepLabV3 whose forward returns only the upsampled main-head logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        out = self.classifier(features["out"])
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def deeplabv3_resnet50_voc(num_classes: int = VOC_CLASSES) -> DeepLabV3Out:
    """The segmentation benchmark's network, randomly initialized (no download).

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in deeplabv3_resnet50_voc().parameters())
    42004074
    """
    ref = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=True)
    return DeepLabV3Out(ref.backbone, ref.classifier, ref.aux_classifier)
