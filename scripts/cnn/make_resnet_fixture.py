#!/usr/bin/env python3
"""Makes the parity fixtures of crates/dualenc-cnn (written to fixtures/cnn/).

Run from the repository root with a Python that has torch, torchvision, safetensors and onnx
(the reference venv: /tmp/refenv/bin/pip install torchvision onnx pillow):

    /tmp/refenv/bin/python scripts/cnn/make_resnet_fixture.py

It writes:
- resnet_tiny.pth: the state dict (torch.save, zip format) of a small ResNet built from
  torchvision's own `Bottleneck` and `ResNet._make_layer`, with every width divided by 8 (stem
  8 channels, stage planes 8/16/32/64, pooled feature 256) and a 10-class fc, BatchNorm
  affine parameters and running statistics randomised so they matter, in eval mode;
- resnet_tiny_io.safetensors: `images` (3 x 3 x 64 x 64) and `features` (their 3 x 256
  pooled features), `images_odd` (2 x 3 x 49 x 49, an odd size for the padding and pooling
  edges) and `features_odd`;
- resnet152_keys.json: every state-dict name and shape of torchvision's real `resnet152()`,
  in order, to check our naming and shapes at full size;
- conv_gap.onnx / conv_flatten.onnx: a conv 3->8 (3x3, stride 2, pad 1) + ReLU + global
  average pool, written with the `onnx` package, with a symbolic batch; the first outputs
  N x 8 x 1 x 1, the second flattens to N x 8; conv_batch1.onnx reshapes to the constant
  [1, 8] instead (it takes one image at a time); onnx_io.safetensors holds `images`
  (2 x 3 x 32 x 32) and `features` (2 x 8) computed by PyTorch with the same weights.

Deterministic (seeded); regenerating gives the same numbers on the same torch version.
"""

import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file
from torchvision.models.resnet import Bottleneck, ResNet, resnet152

OUT = os.path.join("fixtures", "cnn")
TINY_WIDTH = 8
TINY_LAYERS = [2, 1, 2, 1]


class TinyResNet(ResNet):
    """torchvision's ResNet with the stem and stage widths scaled by `width / 64`.

    Only `__init__` differs: the stem, the stages (torchvision's own `_make_layer` and
    `Bottleneck`), the pooling and `forward` are torchvision's.
    """

    def __init__(self, layers, width, num_classes=10):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(Bottleneck, width, layers[0])
        self.layer2 = self._make_layer(Bottleneck, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(Bottleneck, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(Bottleneck, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x):
        """The pooled feature (what `fc` would take)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def randomise_batchnorm(model, gen):
    """Gives every BatchNorm non-trivial affine parameters and running statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(17)


def make_resnet(gen):
    """The tiny ResNet fixture and its inputs and outputs."""
    model = TinyResNet(TINY_LAYERS, TINY_WIDTH)
    randomise_batchnorm(model, gen)
    model.eval()
    torch.save(model.state_dict(), os.path.join(OUT, "resnet_tiny.pth"))
    images = torch.randn(3, 3, 64, 64, generator=gen)
    images_odd = torch.randn(2, 3, 49, 49, generator=gen)
    with torch.no_grad():
        feats = model.features(images)
        feats_odd = model.features(images_odd)
        # The features are what torchvision's own forward feeds to fc.
        logits = model(images)
        assert torch.allclose(logits, model.fc(feats), atol=1e-5)
    save_file(
        {
            "images": images.contiguous(),
            "features": feats.contiguous(),
            "images_odd": images_odd.contiguous(),
            "features_odd": feats_odd.contiguous(),
        },
        os.path.join(OUT, "resnet_tiny_io.safetensors"),
    )
    print("tiny resnet: feature range", feats.min().item(), feats.max().item())


def write_resnet152_keys():
    """Names and shapes of torchvision's real ResNet-152 state dict."""
    sd = resnet152().state_dict()
    keys = [[name, list(t.shape)] for name, t in sd.items()]
    with open(os.path.join(OUT, "resnet152_keys.json"), "w") as f:
        json.dump(keys, f, separators=(",", ":"))
    print("resnet152:", len(keys), "state-dict entries")


def onnx_model(weight, bias, flatten, fixed_batch=False):
    """conv (stride 2, pad 1) + relu + global average pool [+ flatten] with batch `N`, or
    with `fixed_batch` a reshape to the constant shape [1, 8] instead of the flatten (a model
    that only takes one image at a time)."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g" if flatten else "y"]),
    ]
    out_shape = ["N", 8] if flatten else ["N", 8, 1, 1]
    initializers = [numpy_helper.from_array(weight.numpy(), "w"),
                    numpy_helper.from_array(bias.numpy(), "b")]
    if fixed_batch:
        out_shape = [1, 8]
        initializers.append(numpy_helper.from_array(np.array([1, 8], dtype=np.int64), "s"))
        nodes.append(helper.make_node("Reshape", ["g", "s"], ["y"]))
    elif flatten:
        nodes.append(helper.make_node("Flatten", ["g"], ["y"], axis=1))
    graph = helper.make_graph(
        nodes,
        "conv_gap",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_onnx(gen):
    """The two tiny ONNX models and their inputs and outputs."""
    weight = 0.3 * torch.randn(8, 3, 3, 3, generator=gen)
    bias = 0.1 * torch.randn(8, generator=gen)
    images = torch.randn(2, 3, 32, 32, generator=gen)
    feats = F.relu(F.conv2d(images, weight, bias, stride=2, padding=1)).mean(dim=(2, 3))
    onnx.save(onnx_model(weight, bias, False), os.path.join(OUT, "conv_gap.onnx"))
    onnx.save(onnx_model(weight, bias, True), os.path.join(OUT, "conv_flatten.onnx"))
    onnx.save(onnx_model(weight, bias, True, fixed_batch=True),
              os.path.join(OUT, "conv_batch1.onnx"))
    save_file({"images": images.contiguous(), "features": feats.contiguous()},
              os.path.join(OUT, "onnx_io.safetensors"))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261207)
    make_resnet(gen)
    write_resnet152_keys()
    make_onnx(gen)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures/cnn: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
