"""Coverage fixtures for issue 12 ("every CNN users bring"), imported by make-onnx-fixtures.py.

Writes into tests/Secateur.Tests/Fixtures/onnx-coverage/ (not Fixtures/onnx/, which the C# fixture tests enumerate)
small ONNX files of the model families Secateur does not import yet, and MANIFEST.md describing them: per file its
opset, IR version, inputs, outputs, node count and op types, and which of those op types Secateur's importer (the
commit that last changed src/Secateur/Graph/OpKind.cs or src/Secateur/Onnx/) neither supports nor folds.

Conventions are those of make-onnx-fixtures.py: torchvision's own classes with narrowed widths (or small hand-written
nets where torchvision has no such model), torch.manual_seed(0) before building, randomised batch-norm statistics and
norm/PReLU/layer-scale parameters (generator seed 1), a traced input from generator seed 2, eval mode, input 'input'
(every input and output has a dynamic batch axis 'batch'), `fold` and `bn` export modes, and, for old opsets, `legacy`:

  legacy  as `bn`, with keep_initializers_as_inputs=True (initializers listed as graph inputs) and, at opsets below 9,
          BatchNormalization's `spatial` = 1 written out as files of that era (CNTK, Caffe2 and early converters) carry
          it. Torch 1.13 stamps opset-7 and -8 files IR version 3 by itself.

Where torch 1.13 has no export for an op the issue lists, a torch.autograd.Function with a `symbolic` writes the ONNX
op and its forward computes exactly the ONNX semantics (so torch's and ONNX Runtime's outputs agree):
SpaceToDepth and DepthToSpace in DCR mode (torch writes PixelUnshuffle as Reshape→Transpose→Reshape and PixelShuffle
as DepthToSpace CRD), Sum (torch writes a + b + c as Add), GlobalMaxPool (torch writes AdaptiveMaxPool2d(1) as a
MaxPool whose kernel is the input size when the size is known), Split whose sizes input is computed by Shape
arithmetic (torch writes computed-size splits as Slice, or as SplitToSequence when scripted), and Upsample below
opset 9 (torch 1.13's opset-7/8 upsample symbolic fails on every input with "'NoneType' object is not subscriptable").
Not exportable at all with torch 1.13 / onnx 1.12 (highest opset 17): Gelu (opset 20), GroupNormalization (opset 18),
Mish (opset 18): GELU is written in its Erf form (and its tanh approximation), GroupNorm as Reshape →
InstanceNormalization → Reshape → Mul → Add, Mish as Softplus → Tanh → Mul.
"""
import collections
import hashlib
import os
import re
import subprocess

import onnx
import onnx.shape_inference
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.onnx import symbolic_helper
from torchvision.models import convnext, mobilenetv3, regnet, resnet, shufflenetv2
from torchvision.models.segmentation import deeplabv3, fcn, lraspp

NUM_CLASSES = 10
SEG_CLASSES = 4


def _opset():
    return symbolic_helper.GLOBALS.export_onnx_opset_version


def _const(g, values, dtype=torch.long):
    return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))


# --- ops torch 1.13 does not write; each forward is the ONNX definition ------------------------------------------

class SpaceToDepth(torch.autograd.Function):
    """ONNX SpaceToDepth (blocksize 2): channel index (bh·bs + bw)·C + c — not PixelUnshuffle's c·bs² + bh·bs + bw."""

    @staticmethod
    def forward(ctx, x):
        b, c, h, w = x.shape
        t = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
        return t.reshape(b, c * 4, h // 2, w // 2)

    @staticmethod
    def symbolic(g, x):
        return g.op("SpaceToDepth", x, blocksize_i=2)


class DepthToSpaceDCR(torch.autograd.Function):
    """ONNX DepthToSpace in DCR mode (the default, TensorFlow's order), blocksize 2; PixelShuffle is CRD."""

    @staticmethod
    def forward(ctx, x):
        b, c, h, w = x.shape
        t = x.reshape(b, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2)
        return t.reshape(b, c // 4, h * 2, w * 2)

    @staticmethod
    def symbolic(g, x):
        return g.op("DepthToSpace", x, blocksize_i=2, mode_s="DCR")


class Sum3(torch.autograd.Function):
    """ONNX Sum of three tensors."""

    @staticmethod
    def forward(ctx, a, b, c):
        return a + b + c

    @staticmethod
    def symbolic(g, a, b, c):
        return g.op("Sum", a, b, c)


class GlobalMaxPool(torch.autograd.Function):
    """ONNX GlobalMaxPool, as exporters write AdaptiveMaxPool2d(1) when the spatial size is not known."""

    @staticmethod
    def forward(ctx, x):
        return F.adaptive_max_pool2d(x, 1)

    @staticmethod
    def symbolic(g, x):
        return g.op("GlobalMaxPool", x)


class SplitComputed(torch.autograd.Function):
    """Split along channels into [C - C/2, C/2], the sizes input (opset 13+) computed by Shape → Gather → Div → Sub
    → Concat. Torch 1.13 itself writes such a split as Slice nodes when traced, and as SplitToSequence/SequenceAt
    when scripted (its chunk symbolic computes the sizes this way, then falls back to sequences)."""

    @staticmethod
    def forward(ctx, x):
        c = x.shape[1]
        a, b = torch.split(x, [c - c // 2, c // 2], 1)
        return a.clone(), b.clone()

    @staticmethod
    def symbolic(g, x):
        assert _opset() >= 13, "SplitComputed needs opset 13 (Split's sizes as an input)"
        c = g.op("Gather", g.op("Shape", x), _const(g, [1]), axis_i=0)
        half = g.op("Div", c, _const(g, [2]))
        sizes = g.op("Concat", g.op("Sub", c, half), half, axis_i=0)
        return g.op("Split", x, sizes, axis_i=1, outputs=2)


class LegacyUpsample(torch.autograd.Function):
    """ONNX Upsample ×2 (opsets 7–9: `scales` an attribute before 9, an input from 9), nearest or linear. Upsample's
    linear mode is 'asymmetric' (source x = out x / 2, clamped), unlike PyTorch's half-pixel bilinear; the forward
    computes that."""

    @staticmethod
    def forward(ctx, x, mode):
        if mode == "nearest":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        for dim in (2, 3):
            nxt = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim)
            x = torch.stack([x, (x + nxt) / 2], dim + 1).flatten(dim, dim + 1)
        return x

    @staticmethod
    def symbolic(g, x, mode):
        scales = [1.0, 1.0, 2.0, 2.0]
        if _opset() < 9:
            return g.op("Upsample", x, mode_s=mode, scales_f=scales)
        return g.op("Upsample", x, _const(g, scales, torch.float32), mode_s=mode)


# --- segmentation ----------------------------------------------------------------------------------------------

def _mobilenet_v3_large_dilated():
    """torchvision MobileNetV3-Large as the segmentation builders use it (dilated last stage) at width 0.2, with
    torchvision's own reduced_tail option (last stage at half width, as its detection models use it)."""
    setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_large", width_mult=0.2, reduced_tail=True, dilated=True)
    return mobilenetv3.MobileNetV3(setting, last)


def lraspp_mobilenet_v3_large():
    """torchvision lraspp_mobilenet_v3_large (LR-ASPP head: pooled sigmoid gate, bilinear Resize to the low-level
    features' and then the input's size) with a width-0.2 reduced-tail backbone and 16 intermediate channels instead of 128."""
    m = lraspp._lraspp_mobilenetv3(_mobilenet_v3_large_dilated(), SEG_CLASSES)
    low = m.classifier.low_classifier.in_channels
    high = m.classifier.cbr[0].in_channels
    m.classifier = lraspp.LRASPPHead(low, high, SEG_CLASSES, 16)
    return m, [(3, 64, 64)], ["out"]


def deeplabv3_mobilenet_v3_large():
    """torchvision deeplabv3_mobilenet_v3_large with its aux FCN head: width-0.2 reduced-tail backbone, and DeepLabHead's layout
    (ASPP with rates 12/24/36 and image pooling, 3x3 conv, classifier) at 16 channels instead of 256."""
    m = deeplabv3._deeplabv3_mobilenetv3(_mobilenet_v3_large_dilated(), SEG_CLASSES, aux=True)
    c = 16
    out_in = m.classifier[0].convs[0][0].in_channels
    m.classifier = nn.Sequential(
        deeplabv3.ASPP(out_in, [12, 24, 36], out_channels=c),
        nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, SEG_CLASSES, 1))
    return m, [(3, 64, 64)], ["out", "aux"]


def fcn_resnet50():
    """torchvision fcn_resnet50 with aux head: ResNet-50's Bottleneck [3, 4, 6, 3] with layers 3 and 4 dilated
    (output stride 8) at 1/16 width (4..32 planes, 128 output channels), FCNHead on layer 4 and aux on layer 3."""
    b = resnet.ResNet(resnet.Bottleneck, [3, 4, 6, 3], replace_stride_with_dilation=[False, True, True])
    b.inplanes, b.dilation = 4, 1
    b.conv1 = nn.Conv2d(3, 4, kernel_size=7, stride=2, padding=3, bias=False)
    b.bn1 = nn.BatchNorm2d(4)
    b.layer1 = b._make_layer(resnet.Bottleneck, 4, 3)
    b.layer2 = b._make_layer(resnet.Bottleneck, 8, 4, stride=2)
    b.layer3 = b._make_layer(resnet.Bottleneck, 16, 6, stride=2, dilate=True)
    b.layer4 = b._make_layer(resnet.Bottleneck, 32, 3, stride=2, dilate=True)
    m = fcn._fcn_resnet(b, SEG_CLASSES, aux=True)
    m.classifier = fcn.FCNHead(128, SEG_CLASSES)
    m.aux_classifier = fcn.FCNHead(64, SEG_CLASSES)
    return m, [(3, 64, 64)], ["out", "aux"]


# --- classifiers -----------------------------------------------------------------------------------------------

def resnext50_32x4d():
    """torchvision ResNeXt-50 layout (Bottleneck [3, 4, 6, 3], grouped 3x3 convs of width 2 x planes as in 32x4d)
    at 1/16 width: 4 groups, base width 32, so 2, 4, 8, 16 channels per group in layers 1-4."""
    m = resnet.ResNet(resnet.Bottleneck, [3, 4, 6, 3], groups=4, width_per_group=32, num_classes=NUM_CLASSES)
    m.inplanes = 8
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.layer1 = m._make_layer(resnet.Bottleneck, 4, 3)
    m.layer2 = m._make_layer(resnet.Bottleneck, 8, 4, stride=2)
    m.layer3 = m._make_layer(resnet.Bottleneck, 16, 6, stride=2)
    m.layer4 = m._make_layer(resnet.Bottleneck, 32, 3, stride=2)
    m.fc = nn.Linear(128, NUM_CLASSES)
    return m, [(3, 64, 64)], ["logits"]


def regnet_y_400mf():
    """torchvision RegNet-Y (X blocks with grouped 3x3 convs and squeeze-excitation, se_ratio 0.25) with a narrowed
    width schedule: depth 7, w_0 8, w_a 8, w_m 2, group width 4 (stages 8, 16, 32, 64), stem 8."""
    params = regnet.BlockParams.from_init_params(depth=7, w_0=8, w_a=8.0, w_m=2.0, group_width=4, se_ratio=0.25)
    return regnet.RegNet(params, num_classes=NUM_CLASSES, stem_width=8), [(3, 32, 32)], ["logits"]


def convnext_tiny():
    """torchvision ConvNeXt-Tiny layout (7x7 depthwise conv, LayerNorm over channels via permute, Linear on
    channels-last tensors, GELU, layer scale, LayerNorm2d + strided conv downsampling) at widths 8-16-32-48 instead of
    96-192-384-768, depth 2-2-4-2 instead of 3-3-9-3."""
    setting = [convnext.CNBlockConfig(8, 16, 2), convnext.CNBlockConfig(16, 32, 2),
               convnext.CNBlockConfig(32, 48, 4), convnext.CNBlockConfig(48, None, 2)]
    return convnext.ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=NUM_CLASSES), [(3, 32, 32)], ["logits"]


def shufflenet_v2_x1_0():
    """torchvision ShuffleNetV2 x1.0 (stage repeats 4, 8, 4) at 1/4 width (24, 116, 232, 464, 1024 → 12, 28, 56,
    112, 256): channel split and Reshape → Transpose → Reshape channel shuffle."""
    return shufflenetv2.ShuffleNetV2([4, 8, 4], [12, 28, 56, 112, 256], num_classes=NUM_CLASSES), [(3, 64, 64)], ["logits"]


# --- U-Net -----------------------------------------------------------------------------------------------------

def _double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A 4-level U-Net (1-channel input, as in medical imaging) whose decoder up-samples three ways: ConvTranspose
    (k2 s2), bilinear Resize with align_corners=True (scales) and ConvTranspose (k3 s2 p1 output_padding 1, 2 groups),
    then a dilated stride-1 ConvTranspose refinement and a bilinear Resize to the skip's size (sizes, half-pixel);
    skips by concatenation."""

    def __init__(self, cin=1, classes=2, w=6):
        super().__init__()
        self.enc1, self.enc2, self.enc3 = _double_conv(cin, w), _double_conv(w, 2 * w), _double_conv(2 * w, 4 * w)
        self.bottom = _double_conv(4 * w, 8 * w)
        self.up3 = nn.ConvTranspose2d(8 * w, 4 * w, kernel_size=2, stride=2)
        self.dec3 = _double_conv(8 * w, 4 * w)
        self.up2 = nn.Conv2d(4 * w, 2 * w, 1)
        self.dec2 = _double_conv(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)
        self.dec1 = _double_conv(2 * w, w)
        self.refine = nn.ConvTranspose2d(w, w, kernel_size=3, padding=2, dilation=2, bias=False)
        self.side = nn.Conv2d(4 * w, w, 1)
        self.head = nn.Conv2d(2 * w, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        b = self.bottom(F.max_pool2d(e3, 2))
        d3 = self.dec3(torch.cat([self.up3(b), e3], 1))
        up = F.interpolate(self.up2(d3), scale_factor=2.0, mode="bilinear", align_corners=True)
        d2 = self.dec2(torch.cat([up, e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        d1 = F.relu(self.refine(d1))
        side = F.interpolate(self.side(d3), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([d1, side], 1))


def unet():
    return UNet(), [(1, 64, 64)], ["out"]


# --- YOLO-style detector ---------------------------------------------------------------------------------------

class ConvBNSiLU(nn.Sequential):
    def __init__(self, cin, cout, k=1, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class YoloBottleneck(nn.Module):
    def __init__(self, c, shortcut=True):
        super().__init__()
        self.cv1, self.cv2, self.add = ConvBNSiLU(c, c, 3), ConvBNSiLU(c, c, 3), shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8's C2f: 1x1 conv to 2c, halve it (chunk — exported as Shape → Gather → Div → Slice at opset 11+ — or
    split((c, c)), exported as Split), run n bottlenecks on the last half, concatenate every half, 1x1 conv."""

    def __init__(self, cin, cout, n=1, shortcut=True, split=False):
        super().__init__()
        self.c, self.split = cout // 2, split
        self.cv1 = ConvBNSiLU(cin, 2 * self.c)
        self.cv2 = ConvBNSiLU((2 + n) * self.c, cout)
        self.m = nn.ModuleList(YoloBottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = self.cv1(x)
        y = list(y.split((self.c, self.c), 1) if self.split else y.chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin, cout, k=5):
        super().__init__()
        self.cv1, self.cv2 = ConvBNSiLU(cin, cin // 2), ConvBNSiLU(cin // 2 * 4, cout)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class DetectHead(nn.Module):
    """One scale of YOLOv8's decoupled head: box branch (4 x reg_max) and class branch, concatenated."""

    def __init__(self, cin, c, classes, reg_max=4):
        super().__init__()
        self.box = nn.Sequential(ConvBNSiLU(cin, c, 3), ConvBNSiLU(c, c, 3), nn.Conv2d(c, 4 * reg_max, 1))
        self.cls = nn.Sequential(ConvBNSiLU(cin, c, 3), ConvBNSiLU(c, c, 3), nn.Conv2d(c, classes, 1))

    def forward(self, x):
        return torch.cat([self.box(x), self.cls(x)], 1)


class Yolo(nn.Module):
    """A YOLOv8-style detector: C2f backbone with SPPF, a nearest-upsampling FPN + PAN neck, and decoupled heads on
    strides 8, 16, 32, each a graph output. C2f blocks alternate the chunk and the split forms."""

    def __init__(self, classes=3, w=(8, 16, 16, 32, 32)):
        super().__init__()
        c1, c2, c3, c4, c5 = w
        self.stem = nn.Sequential(ConvBNSiLU(3, c1, 3, 2), ConvBNSiLU(c1, c2, 3, 2), C2f(c2, c2, 1))
        self.p3 = nn.Sequential(ConvBNSiLU(c2, c3, 3, 2), C2f(c3, c3, 2, split=True))
        self.p4 = nn.Sequential(ConvBNSiLU(c3, c4, 3, 2), C2f(c4, c4, 2))
        self.p5 = nn.Sequential(ConvBNSiLU(c4, c5, 3, 2), C2f(c5, c5, 1, split=True), SPPF(c5, c5))
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.td4 = C2f(c5 + c4, c4, 1, shortcut=False)
        self.td3 = C2f(c4 + c3, c3, 1, shortcut=False, split=True)
        self.down3 = ConvBNSiLU(c3, c3, 3, 2)
        self.bu4 = C2f(c3 + c4, c4, 1, shortcut=False)
        self.down4 = ConvBNSiLU(c4, c4, 3, 2)
        self.bu5 = C2f(c4 + c5, c5, 1, shortcut=False, split=True)
        self.heads = nn.ModuleList(DetectHead(c, 8, classes) for c in (c3, c4, c5))

    def forward(self, x):
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        t4 = self.td4(torch.cat([self.up(p5), p4], 1))
        t3 = self.td3(torch.cat([self.up(t4), p3], 1))
        b4 = self.bu4(torch.cat([self.down3(t3), t4], 1))
        b5 = self.bu5(torch.cat([self.down4(b4), p5], 1))
        return tuple(h(f) for h, f in zip(self.heads, (t3, b4, b5)))


def yolo():
    return Yolo(), [(3, 64, 64)], ["p3", "p4", "p5"]


# --- every activation and norm ---------------------------------------------------------------------------------

class ChannelsFirstLayerNorm(nn.Module):
    """The original ConvNeXt's LayerNorm(data_format='channels_first'): mean and variance over C written out
    (ReduceMean over axis 1, Sub, Pow 2, Add, Sqrt, Div, Mul, Add)."""

    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class PermuteLayerNorm(nn.LayerNorm):
    """LayerNorm over channels by permuting to channels-last (LayerNormalization at opset 17, decomposed below)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ActNet(nn.Module):
    """Not a torchvision model: one stage per activation and normalisation of issue 12, in sequence."""

    def __init__(self, c=16):
        super().__init__()

        def conv(cin=c, cout=c, k=3):
            return nn.Conv2d(cin, cout, k, padding=k // 2)

        self.stem = conv(3, c)
        self.acts = nn.ModuleList([
            nn.LeakyReLU(0.1), nn.PReLU(c), nn.ELU(alpha=0.7), nn.SELU(), nn.GELU(), nn.GELU(approximate="tanh"),
            nn.Tanh(), nn.Softplus(), nn.Mish()])
        self.act_convs = nn.ModuleList(conv() for _ in self.acts)
        self.norms = nn.ModuleList([
            nn.InstanceNorm2d(c, affine=True), nn.GroupNorm(4, c), PermuteLayerNorm(c), ChannelsFirstLayerNorm(c)])
        self.norm_convs = nn.ModuleList(conv() for _ in self.norms)
        self.gate = conv(c, c, 1)
        self.unshuffle, self.after_unshuffle = nn.PixelUnshuffle(2), conv(4 * c, 2 * c, 1)   # → 32 ch, H/2
        self.shuffle, self.after_shuffle = nn.PixelShuffle(2), conv(c // 2, c)                # CRD → 8 ch, H
        self.after_s2d = conv(4 * c, 4 * c, 1)                                                # SpaceToDepth → H/2
        self.after_d2s = conv(c, c)                                                           # DCR → 16 ch, H
        self.mix = conv(c, c, 1)
        self.fc = nn.Linear(c, NUM_CLASSES)

    def forward(self, x):
        x = self.stem(x)
        for conv, act in zip(self.act_convs, self.acts):
            x = act(conv(x))
        for conv, norm in zip(self.norm_convs, self.norms):
            x = norm(conv(x))
        x = x * torch.sigmoid(self.gate(GlobalMaxPool.apply(x)))           # GlobalMaxPool gate
        x = x * F.softmax(x, dim=1)                                         # Softmax over channels
        x = self.after_shuffle(self.shuffle(self.after_unshuffle(self.unshuffle(x))))
        x = self.after_d2s(DepthToSpaceDCR.apply(self.after_s2d(SpaceToDepth.apply(x))))
        p, q = SplitComputed.apply(x)                                       # Split, computed sizes [8, 8]
        hi, lo = torch.max(p, q), torch.min(p, q)                          # Max, Min
        x = self.mix(torch.cat([Sum3.apply(p, q, hi), torch.neg(lo)], 1))   # Sum, Neg
        x = torch.pow(F.relu(x), 1.5)                                       # Pow, constant non-integer exponent
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def actnet():
    return ActNet(), [(3, 16, 16)], ["logits"]


# --- several inputs -------------------------------------------------------------------------------------------

class TwoInputNet(nn.Module):
    """RGB + depth two-stream CNN fused by Concat and Add: only ops Secateur supports, so that a second graph input
    is the one thing under test. The depth stream's first conv reads a 1-channel input."""

    def __init__(self):
        super().__init__()
        self.rgb = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.depth = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.fuse = nn.Sequential(nn.Conv2d(24, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.skip = nn.Conv2d(8, 16, 1)
        self.fc = nn.Linear(16, NUM_CLASSES)

    def forward(self, x, d):
        r, e = self.rgb(x), self.depth(d)
        y = self.fuse(torch.cat([r, e], 1)) + self.skip(e)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def twoinput():
    return TwoInputNet(), {"input": (3, 32, 32), "depth": (1, 32, 32)}, ["logits"]


# --- old exporters ---------------------------------------------------------------------------------------------

class OldNet(nn.Module):
    """A small CNN of the opset-7-9 era: BatchNormalization, attribute-form Pad and Slice, Upsample (nearest and
    linear ×2), Concat, MaxPool, Dropout, Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv4 = nn.Conv2d(32, 16, 1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(16, NUM_CLASSES)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))                                # 16x16
        x = F.pad(x, (1, 0, 1, 0))                                         # 17x17, attribute-form Pad below opset 11
        x = F.relu(self.bn2(self.conv2(x)))                                # 8x8
        y = F.max_pool2d(F.relu(self.conv3(x)), 2)                         # 4x4
        if _opset() >= 9:
            near = F.interpolate(y, scale_factor=2.0, mode="nearest")      # torch's own Upsample(scales input)
        else:
            near = LegacyUpsample.apply(y, "nearest")
        lin = LegacyUpsample.apply(y, "linear")
        x = self.conv4(torch.cat([near, lin], 1))[:, :, 1:, :-1]          # attribute-form Slice below opset 10
        return self.fc(self.drop(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


def oldnet():
    return OldNet(), [(3, 16, 16)], ["logits"]


MODELS = {
    "lraspp_mobilenet_v3_large": lraspp_mobilenet_v3_large,
    "deeplabv3_mobilenet_v3_large": deeplabv3_mobilenet_v3_large,
    "fcn_resnet50": fcn_resnet50,
    "resnext50_32x4d": resnext50_32x4d,
    "regnet_y_400mf": regnet_y_400mf,
    "convnext_tiny": convnext_tiny,
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "unet": unet,
    "yolo": yolo,
    "actnet": actnet,
    "oldnet": oldnet,
    "twoinput": twoinput,
}

# (model, mode, opset). Resize differs by opset (11: roi and scales inputs always present; 13+: empty roi), so the
# segmentation nets and U-Net span 11, 13 and 17; ConvNeXt and ActNet at 17 (LayerNormalization) and 13 (decomposed).
FIXTURES = [
    ("lraspp_mobilenet_v3_large", "fold", 11),
    ("deeplabv3_mobilenet_v3_large", "fold", 13),
    ("fcn_resnet50", "bn", 17),
    ("resnext50_32x4d", "fold", 13),
    ("regnet_y_400mf", "bn", 11),
    ("convnext_tiny", "fold", 17), ("convnext_tiny", "fold", 13),
    ("shufflenet_v2_x1_0", "bn", 13),
    ("unet", "fold", 13), ("unet", "bn", 11),
    ("yolo", "fold", 13), ("yolo", "bn", 11),
    ("actnet", "fold", 17), ("actnet", "bn", 13),
    ("oldnet", "bn", 9), ("oldnet", "fold", 8), ("oldnet", "legacy", 7),
    ("twoinput", "fold", 13),
]


def randomise(model, gen):
    """Random batch-norm statistics (as make-onnx-fixtures.py does) and random affine parameters of the other norms,
    PReLU slopes and ConvNeXt layer scales (torchvision's 1e-6 would make every block nearly an identity)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.uniform_(-0.2, 0.2, generator=gen)
                mod.running_mean.uniform_(-0.2, 0.2, generator=gen)
                mod.running_var.uniform_(0.5, 1.5, generator=gen)
            elif isinstance(mod, (nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm, ChannelsFirstLayerNorm)):
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.uniform_(-0.2, 0.2, generator=gen)
            elif isinstance(mod, nn.PReLU):
                mod.weight.uniform_(0.05, 0.5, generator=gen)
            elif isinstance(mod, convnext.CNBlock):
                mod.layer_scale.uniform_(0.1, 1.0, generator=gen)


def file_name(name, mode, opset):
    return f"{name}.{mode}.op{opset}.onnx"


def export(name, mode, opset, out_dir):
    torch.manual_seed(0)
    model, shapes, outputs = MODELS[name]()
    randomise(model, torch.Generator().manual_seed(1))
    model.eval()
    gen = torch.Generator().manual_seed(2)
    named = shapes if isinstance(shapes, dict) else {"input": shapes[0]}
    inputs = list(named)
    xs = tuple(torch.randn(2, *s, generator=gen) for s in named.values())
    path = os.path.join(out_dir, file_name(name, mode, opset))
    kwargs = dict(input_names=inputs, output_names=outputs, opset_version=opset,
                  dynamic_axes={v: {0: "batch"} for v in inputs + outputs})
    if mode == "fold":
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    else:
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    if mode == "legacy":
        kwargs.update(keep_initializers_as_inputs=True)
    with torch.no_grad():
        torch.onnx.export(model, xs if len(xs) > 1 else xs[0], path, **kwargs)
        ys = model(*xs)
    ys = list(ys.values()) if isinstance(ys, dict) else [ys] if torch.is_tensor(ys) else list(ys)
    shapes = {v: "[" + ", ".join(["batch"] + [str(d) for d in t.shape[1:]]) + "]" for v, t in zip(inputs + outputs, list(xs) + ys)}
    m = onnx.load(path)
    if mode == "legacy" and opset < 9:
        for n in m.graph.node:
            if n.op_type == "BatchNormalization" and not any(a.name == "spatial" for a in n.attribute):
                n.attribute.append(onnx.helper.make_attribute("spatial", 1))
        onnx.save(m, path)
    onnx.checker.check_model(m, full_check=True)
    size = os.path.getsize(path)
    assert size < 1_500_000, f"{path} is {size} bytes"
    print(f"{os.path.basename(path)}: {size} bytes, opset {opset}, IR {m.ir_version}, "
          f"ops {' '.join(sorted({n.op_type for n in m.graph.node}))}")
    return path, shapes


# --- MANIFEST.md: what each file holds, and what Secateur's importer cannot take yet --------------------------

def _secateur_ops(repo):
    """Secateur's importable op types as its sources define them: the OpKind enum, the op types ConstantEvaluator
    folds on constants, and the ones OnnxFolder maps (its `case "..."` labels), plus Constant and Shape."""
    with open(os.path.join(repo, "src/Secateur/Graph/OpKind.cs")) as f:
        body = re.search(r"public enum OpKind\s*\{(.*?)\}", f.read(), re.S).group(1)
    kinds = set(re.findall(r"^\s*([A-Z]\w*),?\s*$", body, re.M))
    with open(os.path.join(repo, "src/Secateur/Onnx/ConstantEvaluator.cs")) as f:
        src = f.read()
    folded = set(re.findall(r'"(\w+)"', re.search(r"Ops\s*=\s*new HashSet<string>\(StringComparer.Ordinal\)\s*\{(.*?)\}",
                                                     src, re.S).group(1)))
    with open(os.path.join(repo, "src/Secateur/Onnx/OnnxFolder.cs")) as f:
        mapped = set()
        for line in f:
            if re.match(r"\s*case \"", line):
                mapped.update(re.findall(r'"(\w+)"', line.split("when")[0].split(":")[0]))
    return kinds, folded, mapped | {"Constant", "Shape"}


def _ranks(model):
    """Ranks of every value: ONNX shape inference, then, where it gives up (a Reshape whose target is computed from
    Shape, and everything after it), propagated: a Reshape has its target's length, Flatten and Gemm rank 2, any
    other op the rank of its first input."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in infos if vi.type.tensor_type.HasField("shape")}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    rank = {name: len(s) for name, s in shapes.items()}
    for n in model.graph.node:
        for o in n.output:
            if o in rank or not n.input:
                continue
            if n.op_type == "Reshape" and shapes.get(n.input[1], [0])[0]:
                rank[o] = shapes[n.input[1]][0]
            elif n.op_type in ("Flatten", "Gemm"):
                rank[o] = 2
            elif n.input[0] in rank:
                rank[o] = rank[n.input[0]]
    return rank


def _unsupported(model, kinds, folded, mapped):
    """Op types (with counts) Secateur's importer would refuse if every other node imported: a node of a
    ConstantEvaluator op folds when all its inputs are constants (initializers, Constant outputs, or derived from Shape
    of a value whose shape is known — all of them, with the batch fixed as Secateur does); mapped ops have conditions
    (ReduceMean only over all spatial axes, Cast of an activation only to float, Softmax before opset 13 only over
    the last axis) that are checked here too."""
    rank = _ranks(model)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    const = {t.name for t in model.graph.initializer}
    bad = collections.Counter()
    for n in model.graph.node:
        ins = [i for i in n.input if i]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant" or (n.op_type == "Shape") or (
                n.op_type in folded and all(i in const for i in ins) and (ins or n.op_type == "Range")):
            const.update(n.output)
            continue
        if n.op_type == "ReduceMean":
            r = rank.get(n.input[0], 0)
            axes = attrs.get("axes", list(range(r)))
            if sorted(a % r for a in axes) != list(range(2, r)):
                bad["ReduceMean (not over all spatial axes)"] += 1
            continue
        if n.op_type == "Cast" and attrs.get("to") != 1:
            bad["Cast (of an activation, not to float)"] += 1
            continue
        if n.op_type == "Softmax" and opset < 13 and attrs.get("axis", 1) % rank.get(n.input[0], 1) != rank.get(n.input[0], 1) - 1:
            bad["Softmax (before opset 13, not over the last axis)"] += 1
            continue
        if n.op_type in kinds or n.op_type in mapped:
            continue
        bad[n.op_type + (" (of an activation)" if n.op_type in folded else "")] += 1
    return bad


def _notes(model):
    """What the importer or pruner must handle beyond op support: grouped (not depthwise) convolutions, ShuffleNet's
    channel shuffle, Resize whose sizes are computed (their first entry is the batch, so they differ between batch
    sizes), several inputs or outputs, initializers listed as graph inputs."""
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    prod = {o: n for n in model.graph.node for o in n.output}
    rank = _ranks(model)
    notes = collections.Counter()
    for n in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type in ("Conv", "ConvTranspose") and attrs.get("group", 1) > 1:
            w = weights.get(n.input[1]) or [0, 0]
            depthwise = (w[1] == 1) if n.op_type == "Conv" else (w[0] == attrs["group"])
            if not depthwise:
                notes[f"grouped {n.op_type}"] += 1
        if n.op_type == "Transpose" and rank.get(n.input[0]) == 5 and prod.get(n.input[0], n).op_type == "Reshape":
            notes["channel shuffle (Reshape → Transpose → Reshape)"] += 1
        if n.op_type == "Resize" and len(n.input) > 3 and n.input[3] and n.input[3] not in weights:
            notes["Resize to computed sizes (batch-dependent)"] += 1
    real_inputs = [i for i in model.graph.input if i.name not in weights]
    if len(real_inputs) > 1:
        notes[f"{len(real_inputs)} inputs"] = 0
    if len(model.graph.output) > 1:
        notes[f"{len(model.graph.output)} outputs"] = 0
    inits = set(weights)
    if any(i.name in inits for i in model.graph.input):
        notes[f"IR {model.ir_version}, initializers listed as graph inputs"] = 0
    return ", ".join(f"{k} ×{v}" if v else k for k, v in sorted(notes.items())) or ""


def _git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout.strip()


def write_manifest(exported, out_dir, repo):
    lines = [
        "# ONNX coverage fixtures (issue 12)",
        "",
        "Generated by `scripts/make-onnx-fixtures.py` (fixtures defined in `scripts/onnx_coverage_fixtures.py`) with "
        f"torch {torch.__version__}, onnx {onnx.__version__}; do not edit by hand. Regenerate with",
        "",
        "    /usr/bin/python3 scripts/make-onnx-fixtures.py",
        "",
        "Every input and output has a dynamic batch axis (`batch`); the shapes below are as exported. "
        "Op counts include Constant nodes.",
        "",
    ]
    models = {p: onnx.load(p) for p, _ in exported}
    shapes = dict(exported)
    for p, m in models.items():
        opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        inits = {t.name for t in m.graph.initializer}
        real_inputs = [i for i in m.graph.input if i.name not in inits]
        ops = collections.Counter(n.op_type for n in m.graph.node)
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        lines += [
            f"## {os.path.basename(p)}",
            "",
            f"- size: {os.path.getsize(p):,} bytes; sha256 {digest}…",
            f"- opset {opset}, IR version {m.ir_version}, producer {m.producer_name} {m.producer_version}"
            + (f"; {len(m.graph.input) - len(real_inputs)} initializers listed as graph inputs"
               if len(m.graph.input) > len(real_inputs) else ""),
            "- inputs: " + ", ".join(f"`{i.name}` {shapes[p][i.name]}" for i in real_inputs),
            "- outputs: " + ", ".join(f"`{o.name}` {shapes[p][o.name]}" for o in m.graph.output),
            f"- nodes: {len(m.graph.node)}; initializers: {len(m.graph.initializer)}",
            "- ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())),
            "",
        ]
    kinds, folded, mapped = _secateur_ops(repo)
    with open(os.path.join(repo, "src/Secateur/Onnx/OnnxImporter.cs")) as f:
        min_opset = int(re.search(r"MinOpset = (\d+)", f.read()).group(1))
    src = ["src/Secateur/Graph/OpKind.cs", "src/Secateur/Onnx"]
    commit, date = _git(repo, "log", "-1", "--format=%h %cs", "--", *src).split()
    lines += [
        f"# Unsupported by Secateur at {commit} ({date})",
        "",
        f"Commit {commit} ({date}) is the last one that changed {' or '.join(f'`{s}`' for s in src)}. "
        "Read from those sources: the `OpKind` enum (" + ", ".join(sorted(kinds)) + "); ops ConstantEvaluator folds "
        "when every input is constant (" + ", ".join(sorted(folded)) + "); ops OnnxFolder maps ("
        + ", ".join(sorted(mapped)) + "). A node counts as unsupported if it is none of those, or one of them in a "
        "form the importer refuses, assuming every other node imported (the importer itself stops computing shapes "
        "after the first unsupported node, so its own list can also name Shape nodes downstream of one). Files "
        f"below opset {min_opset} are refused outright (`OnnxImporter.MinOpset`).",
        "",
        "| file | opset | unsupported op types (count) | other things to handle |",
        "|---|---|---|---|",
    ]
    for p, m in models.items():
        opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        bad = _unsupported(m, kinds, folded, mapped)
        cells = ", ".join(f"{k} ×{v}" for k, v in sorted(bad.items())) or "none"
        if opset < min_opset:
            cells = f"**opset {opset} refused**; then " + cells
        lines.append(f"| {os.path.basename(p)} | {opset} | {cells} | {_notes(m)} |")
    lines.append("")
    with open(os.path.join(out_dir, "MANIFEST.md"), "w") as f:
        f.write("\n".join(lines))


def main(out_dir, repo):
    os.makedirs(out_dir, exist_ok=True)
    exported = [export(name, mode, opset, out_dir) for name, mode, opset in FIXTURES]
    write_manifest(exported, out_dir, repo)
