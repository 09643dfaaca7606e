#!/usr/bin/python3
"""Exports small torchvision CNNs to ONNX as test fixtures for Secateur's importer.

Run with a Python that has torch, torchvision and onnx (on Debian: /usr/bin/python3 with python3-torch,
python3-torchvision, python3-onnx):

    /usr/bin/python3 scripts/make-onnx-fixtures.py [out_dir]

Default out_dir: tests/Secateur.Tests/Fixtures/onnx. Every model is a torchvision architecture built from
torchvision's own classes with narrowed channels (so that each file stays well under 1.5 MB), 10 classes,
deterministic weights (torch.manual_seed) and non-trivial batch-norm statistics. Each is exported in eval mode
with a dynamic batch axis, input 'input' and output 'logits', in one of two modes:

  fold  torch.onnx.export(training=TrainingMode.EVAL): batch norm folded into the convolutions
  bn    model.eval(), training=TrainingMode.PRESERVE, do_constant_folding=False: BatchNormalization nodes kept,
        Identity nodes over initializers, unfolded shape arithmetic

at the opsets listed in FIXTURES, chosen so that every import path (Split as attribute and as input, HardSwish
native and decomposed, Shape→Gather→Unsqueeze→Concat→Reshape chains, Flatten, ReduceMean, ceil-mode pooling,
SiLU and squeeze-excitation gates, concatenation, Pad) is covered at least twice.

The script is deterministic: the same torch version writes the same files.

Coverage fixtures (issue 12). The same run also writes, into tests/Secateur.Tests/Fixtures/onnx-coverage/ (a separate
folder, so the fixture tests that enumerate Fixtures/onnx/ are not handed ops the importer does not support yet), the
fixtures defined in scripts/onnx_coverage_fixtures.py and a generated MANIFEST.md (per file: opset, IR version,
inputs, outputs, node count, op types with counts; and a table of the op types Secateur's importer does not support,
read from its sources at the last commit that changed them):

  lraspp_mobilenet_v3_large, deeplabv3_mobilenet_v3_large (out, aux), fcn_resnet50 (out, aux)
        torchvision's segmentation builders on narrowed backbones: ASPP, LR-ASPP, bilinear Resize to the input's size
        fed by Shape → Slice/Gather → Concat arithmetic, several graph outputs
  resnext50_32x4d, regnet_y_400mf, convnext_tiny, shufflenet_v2_x1_0
        narrowed torchvision classifiers: grouped convolutions, squeeze-excitation, LayerNorm (LayerNormalization at
        opset 17, decomposed at 13), Erf GELU, layer scale, channel shuffle
  unet  ConvTranspose (k2 s2; k3 s2 output_padding 1 groups 2; dilated) and bilinear Resize (align_corners and
        half-pixel, scales and sizes) up-sampling, skip concatenations, 1-channel input
  yolo  YOLOv8-style: C2f with chunk (Shape/Slice) and split (Split), SPPF, nearest-upsampling FPN + PAN, heads on
        three scales as outputs p3, p4, p5
  actnet  every activation and norm of issue 12: LeakyRelu, PRelu (per channel), Elu, Selu, GELU (Erf and tanh
        forms), Tanh, Softplus, Mish, Softmax, InstanceNorm, GroupNorm, LayerNorm (permute and channels-first forms),
        GlobalMaxPool, PixelShuffle/PixelUnshuffle, SpaceToDepth, DepthToSpace (CRD and DCR), Split with computed
        sizes, Max/Min/Sum, Neg, Sqrt, Pow with a constant exponent
  oldnet  opsets 9, 8 and 7 (IR 3, initializers listed as graph inputs, BatchNormalization spatial = 1): Upsample,
        attribute-form Pad and Slice
  twoinput  two graph inputs ('input' RGB, 'depth' 1-channel), otherwise only ops Secateur supports

Usage:

    /usr/bin/python3 scripts/make-onnx-fixtures.py [out_dir [coverage_dir]]     # both sets
    /usr/bin/python3 scripts/make-onnx-fixtures.py --coverage [coverage_dir]     # the coverage set only

Preprocessing fixtures (issue 17): the full run also writes scripts/preprocessing_fixtures.py's models (a small CNN
trained on [0, 1] inputs, its NHWC and BGR variants, no Secateur metadata) into tests/Secateur.Tests/Fixtures/preprocessing/.

The existing files in Fixtures/onnx/ come out byte-identical when regenerated with the same torch (1.13 on Debian 12).
"""
import os
import sys

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import efficientnet, mobilenetv3, resnet, shufflenetv2, squeezenet, vgg

import onnx_coverage_fixtures
import preprocessing_fixtures


def resnet18():
    """torchvision ResNet-18 layout (BasicBlock, [2, 2, 2, 2]) with widths 8/16/32/64 instead of 64..512."""
    m = resnet.ResNet(resnet.BasicBlock, [2, 2, 2, 2], num_classes=10)
    m.inplanes = 8
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.layer1 = m._make_layer(resnet.BasicBlock, 8, 2)
    m.layer2 = m._make_layer(resnet.BasicBlock, 16, 2, stride=2)
    m.layer3 = m._make_layer(resnet.BasicBlock, 32, 2, stride=2)
    m.layer4 = m._make_layer(resnet.BasicBlock, 64, 2, stride=2)
    m.fc = nn.Linear(64, 10)
    return m, (3, 64, 64)


def vgg11_bn():
    """torchvision VGG-11 with batch norm ('A' configuration, make_layers) at 1/8 width, global pooling head."""
    cfg = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]
    m = vgg.VGG(vgg.make_layers(cfg, batch_norm=True), num_classes=10)
    # The 7x7 adaptive pool and 25088→4096 head assume 224x224 inputs; at 32x32 the features are 1x1.
    m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    m.classifier = nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10))
    return m, (3, 32, 32)


def mobilenet_v2():
    return torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10), (3, 32, 32)


def squeezenet1_1():
    """torchvision SqueezeNet 1.1 layout (Fire modules, ceil-mode max pooling) at 1/4 width."""
    m = squeezenet.SqueezeNet(version="1_1", num_classes=10)
    Fire = squeezenet.Fire
    m.features = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(16, 4, 8, 8), Fire(16, 4, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(16, 8, 16, 16), Fire(32, 8, 16, 16),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(32, 12, 24, 24), Fire(48, 12, 24, 24), Fire(48, 16, 32, 32), Fire(64, 16, 32, 32))
    final_conv = nn.Conv2d(64, 10, kernel_size=1)
    m.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
    return m, (3, 64, 64)


def efficientnet_b0():
    """torchvision EfficientNet-B0 (MBConv, SiLU, squeeze-excitation) at width 0.25, depth 0.5."""
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.5)
    return efficientnet.EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=256), (3, 32, 32)


def mobilenet_v3_small():
    """torchvision MobileNetV3-Small (HardSwish, HardSigmoid squeeze-excitation) at width 0.25."""
    setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    return mobilenetv3.MobileNetV3(setting, last, num_classes=10), (3, 32, 32)


def shufflenet_v2():
    """torchvision ShuffleNetV2 (channel split and shuffle: Split, Reshape, Transpose) with narrowed stages."""
    return shufflenetv2.ShuffleNetV2([4, 8, 4], [16, 24, 48, 96, 256], num_classes=10), (3, 64, 64)


class PadNet(nn.Module):
    """Not a torchvision model: explicit Pad (constant and reflect), a keepdims ReduceMean, a spatial Slice
    and a transposed Gemm — the paths the torchvision models do not reach."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.conv3 = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1))                       # constant Pad
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.pad(x, (2, 1, 0, 1), mode="reflect")       # reflect Pad, asymmetric
        x = F.relu(self.conv2(x))
        x = x[:, :, 1:, :-1]                              # Slice on H and W
        x = self.conv3(x)
        x = x.mean(dim=(2, 3), keepdim=True)              # ReduceMean keepdims=1
        x = x.flatten(1)
        return self.fc(x)


def padnet():
    return PadNet(), (3, 16, 16)


MODELS = {
    "resnet18": resnet18, "vgg11_bn": vgg11_bn, "mobilenet_v2": mobilenet_v2, "squeezenet1_1": squeezenet1_1,
    "efficientnet_b0": efficientnet_b0, "mobilenet_v3_small": mobilenet_v3_small, "shufflenet_v2": shufflenet_v2,
    "padnet": padnet,
}

# (model, mode, opset): every op path at least twice, every model in both modes where it has batch norm.
FIXTURES = [
    ("resnet18", "fold", 11), ("resnet18", "bn", 17),
    ("vgg11_bn", "fold", 17), ("vgg11_bn", "bn", 13),
    ("mobilenet_v2", "fold", 13), ("mobilenet_v2", "bn", 11),
    ("squeezenet1_1", "fold", 11), ("squeezenet1_1", "bn", 13),
    ("efficientnet_b0", "fold", 13), ("efficientnet_b0", "bn", 17),
    ("mobilenet_v3_small", "fold", 11), ("mobilenet_v3_small", "bn", 17),
    ("shufflenet_v2", "fold", 11), ("shufflenet_v2", "fold", 13), ("shufflenet_v2", "bn", 17),
    ("padnet", "fold", 11), ("padnet", "bn", 13),
]


def randomise_bn(model, gen):
    """Random batch-norm affine parameters and running statistics, so folding and BN handling matter."""
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.uniform_(-0.2, 0.2, generator=gen)
                mod.running_mean.uniform_(-0.2, 0.2, generator=gen)
                mod.running_var.uniform_(0.5, 1.5, generator=gen)


def export(name, mode, opset, out_dir):
    torch.manual_seed(0)
    model, shape = MODELS[name]()
    randomise_bn(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(2))
    path = os.path.join(out_dir, f"{name}.{mode}.op{opset}.onnx")
    kwargs = dict(
        input_names=["input"], output_names=["logits"], opset_version=opset,
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        if mode == "fold":
            torch.onnx.export(model, x, path, training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True, **kwargs)
        else:
            torch.onnx.export(model, x, path, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, **kwargs)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes, opset {opset}, ops {' '.join(ops)}")


def full_width(out_dir):
    """Issue 12's speed check: torchvision's full-width fcn_resnet50 (with aux head) and resnet50, random weights,
    3x224x224, dynamic batch, BN folded, opset 13, into out_dir (default: a new temporary directory). Too large to
    commit (about 135 MB and 100 MB); benchmarks/onnx/segmentation-speed.sh makes them on the fly."""
    import tempfile
    import torchvision
    out_dir = out_dir or tempfile.mkdtemp(prefix="secateur-full-width-")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    seg = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True, num_classes=21)
    models = [
        ("fcn_resnet50", _Outputs(seg), ["out", "aux"]),
        ("resnet50", torchvision.models.resnet50(), ["logits"]),
    ]
    x = torch.randn(1, 3, 224, 224)
    for name, model, outputs in models:
        path = os.path.join(out_dir, f"{name}.full.op13.onnx")
        axes = {n: {0: "batch"} for n in ["input"] + outputs}
        torch.onnx.export(model.eval(), x, path, opset_version=13, input_names=["input"], output_names=outputs,
                          dynamic_axes=axes, training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
        print(path)


class _Outputs(nn.Module):
    """torchvision's segmentation models return a dict; ONNX export needs a tuple (out, aux)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        r = self.model(x)
        return r["out"], r["aux"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.join(here, "..")
    fixtures = os.path.join(repo, "tests", "Secateur.Tests", "Fixtures")
    args = sys.argv[1:]
    if args[:1] == ["--full-width"]:
        full_width(args[1] if len(args) > 1 else None)
        return
    coverage_only = args[:1] == ["--coverage"]
    if coverage_only:
        args = args[1:]
    torch.set_num_threads(1)
    if not coverage_only:
        out_dir = args[0] if args else os.path.join(fixtures, "onnx")
        os.makedirs(out_dir, exist_ok=True)
        for name, mode, opset in FIXTURES:
            export(name, mode, opset, out_dir)
        args = args[1:]
    onnx_coverage_fixtures.main(args[0] if args else os.path.join(fixtures, "onnx-coverage"), repo)
    if not coverage_only:
        # Issue 17's input-contract models: trained on the embedded subset, exported without Secateur metadata.
        preprocessing_fixtures.main(os.path.join(fixtures, "preprocessing"), repo)


if __name__ == "__main__":
    main()
