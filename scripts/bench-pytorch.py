#!/usr/bin/python3
"""The PyTorch yardstick: the bare forward pass of Keras Xception V1 as a frozen TorchScript module.

Measures batch-1 latency of Xception (Chollet 2016; keras.applications.xception with include_top=True: 299x299x3
input, 1000 classes, softmax) built in PyTorch layer for layer as src/server/model/architecture.ts describes it,
scripted, frozen and passed through torch.jit.optimize_for_inference (which folds each BatchNorm into its
convolution). This is the "PyTorch frozen-JIT bare forward" the service's own engine is compared with. The weights
are seeded random values (speed does not depend on them), scaled like src/server/model/weights/seeded.ts so the
activations stay in float32's normal range: subnormal numbers would slow the arithmetic and skew the timing.

    /usr/bin/python3 scripts/bench-pytorch.py --threads 2 [--runs 20]
    /usr/bin/python3 scripts/bench-pytorch.py --check

Prints one line of JSON to stdout ({"torch", "threads", "median_ms", "p90_ms", "runs", "mkldnn"}); progress goes to
stderr. --check instead verifies the feature-map sizes against Keras' (299 -> 147 -> 74 -> 37 -> 19 -> 10), that
freezing did not change the output, and prints the output shape and the softmax's sum.

Needs Debian's PyTorch (`apt-get install python3-torch`), hence /usr/bin/python3 rather than a python3 from a
virtual environment. Optional: `npm run bench` calls it when that Python can import torch and says so when it cannot.
"""

import argparse
import json
import math
import sys
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 299
CLASSES = 1000
# Keras' BatchNormalization epsilon in applications/xception.py (PyTorch's default is 1e-5).
BN_EPSILON = 1e-3
WARMUP_RUNS = 5
# Spatial size after each block as Keras computes it for a 299x299 input; --check compares against these.
KERAS_BLOCK_SIZES = {
    "block1": 147, "block2": 74, "block3": 37, "block4": 19, "block12": 19, "block13": 10, "block14": 10,
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPSILON)


class SeparableConv2d(nn.Module):
    """Keras' SeparableConv2D(kernel 3, 'same', no bias): depthwise 3x3 (depth multiplier 1), then pointwise 1x1.

    'same' with a 3x3 kernel at stride 1 pads one cell on every side, which is PyTorch's padding=1.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def same_max_pool(size, kernel_size=3, stride=2):
    """Keras' MaxPooling2D((3, 3), strides=(2, 2), padding='same') for a size x size input.

    TensorFlow pads total = max((ceil(in/stride) - 1) * stride + kernel - in, 0), the smaller half before, with -inf.
    For odd sizes that is one cell each side (PyTorch's padding=1). For block 3's even 74 it is none before and one
    after; padding=1 would give the same size but windows shifted by one, whereas ceil_mode's extra window at the
    end, clipped to the input, is exactly the one-cell pad after. Fixed at build time, so the frozen graph has no
    shape-dependent branches.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    before, after = total // 2, total - total // 2
    return nn.MaxPool2d(kernel_size, stride, padding=before, ceil_mode=after > before)


class EntryBlock1(nn.Module):
    """block1: two plain 3x3 convolutions, no padding; the first halves the image (299 -> 149 -> 147)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self.conv1_bn = batch_norm(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.conv2_bn = batch_norm(64)

    def forward(self, x):
        x = F.relu(self.conv1_bn(self.conv1(x)))
        return F.relu(self.conv2_bn(self.conv2(x)))


class DownsamplingBlock(nn.Module):
    """Blocks 2, 3, 4 and 13: (ReLU, sepconv, BN) twice, 3x3 stride-2 max pool, plus a strided 1x1 conv shortcut.

    Block 2 skips the first ReLU: block 1 already ended with one. The shortcut is Keras' unnamed conv2d_N and
    batch_normalization_N; a 1x1 kernel at stride 2 needs no padding under 'same', so padding=0 matches.
    """

    def __init__(self, in_size, in_channels, mid_channels, out_channels, relu_first):
        super().__init__()
        self.relu_first = relu_first
        self.residual = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.residual_bn = batch_norm(out_channels)
        self.sepconv1 = SeparableConv2d(in_channels, mid_channels)
        self.sepconv1_bn = batch_norm(mid_channels)
        self.sepconv2 = SeparableConv2d(mid_channels, out_channels)
        self.sepconv2_bn = batch_norm(out_channels)
        self.pool = same_max_pool(in_size)

    def forward(self, x):
        residual = self.residual_bn(self.residual(x))
        if self.relu_first:
            x = F.relu(x)
        x = self.sepconv1_bn(self.sepconv1(x))
        x = self.sepconv2_bn(self.sepconv2(F.relu(x)))
        return self.pool(x) + residual


class MiddleBlock(nn.Module):
    """Blocks 5-12: three (ReLU, sepconv 728, BN) units around an identity shortcut."""

    def __init__(self, channels=728):
        super().__init__()
        self.sepconv1 = SeparableConv2d(channels, channels)
        self.sepconv1_bn = batch_norm(channels)
        self.sepconv2 = SeparableConv2d(channels, channels)
        self.sepconv2_bn = batch_norm(channels)
        self.sepconv3 = SeparableConv2d(channels, channels)
        self.sepconv3_bn = batch_norm(channels)

    def forward(self, x):
        residual = x
        x = self.sepconv1_bn(self.sepconv1(F.relu(x)))
        x = self.sepconv2_bn(self.sepconv2(F.relu(x)))
        x = self.sepconv3_bn(self.sepconv3(F.relu(x)))
        return x + residual


class ExitBlock14(nn.Module):
    """block14: (sepconv, BN, ReLU) twice, with the ReLU after the BN unlike the blocks before it."""

    def __init__(self):
        super().__init__()
        self.sepconv1 = SeparableConv2d(1024, 1536)
        self.sepconv1_bn = batch_norm(1536)
        self.sepconv2 = SeparableConv2d(1536, 2048)
        self.sepconv2_bn = batch_norm(2048)

    def forward(self, x):
        x = F.relu(self.sepconv1_bn(self.sepconv1(x)))
        return F.relu(self.sepconv2_bn(self.sepconv2(x)))


class GlobalAveragePool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class DenseSoftmax(nn.Linear):
    """Keras' Dense(classes, activation='softmax'), named 'predictions'."""

    def forward(self, x):
        # F.linear rather than super().forward: TorchScript cannot compile super() calls.
        return F.softmax(F.linear(x, self.weight, self.bias), dim=1)


def xception(classes=CLASSES):
    """Xception V1 for 299x299 NCHW images.

    Module paths read as Keras layer names with '.' for '_' (block4.sepconv2_bn is Keras' block4_sepconv2_bn).
    """
    # The pools' 'same' padding depends on the feature-map size: 147 after block 1, halved (rounding up) per pool.
    blocks = [
        ("block1", EntryBlock1()),
        ("block2", DownsamplingBlock(147, 64, 128, 128, relu_first=False)),
        ("block3", DownsamplingBlock(74, 128, 256, 256, relu_first=True)),
        ("block4", DownsamplingBlock(37, 256, 728, 728, relu_first=True)),
    ]
    blocks += [(f"block{block}", MiddleBlock()) for block in range(5, 13)]
    blocks += [
        ("block13", DownsamplingBlock(19, 728, 728, 1024, relu_first=True)),
        ("block14", ExitBlock14()),
        ("avg_pool", GlobalAveragePool()),
        ("predictions", DenseSoftmax(2048, classes)),
    ]
    return nn.Sequential(OrderedDict(blocks))


@torch.no_grad()
def seed_weights(model):
    """The initialisers of src/server/model/weights/seeded.ts (the values differ: another generator).

    He-normal for kernels followed by a ReLU; gain 1 for the depthwise half of a separable conv (no ReLU before the
    pointwise half); BatchNorm near the identity; a small classifier gain so the softmax is neither flat nor saturated.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            gain = 1.0 if module.groups > 1 else 2.0
            module.weight.normal_(0.0, math.sqrt(gain / fan_in))
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.fill_(1.0)
            module.bias.zero_()
            module.running_mean.normal_(0.0, 0.01)
            module.running_var.uniform_(0.9, 1.1)
        elif isinstance(module, nn.Linear):
            module.weight.normal_(0.0, 0.03 / math.sqrt(module.in_features))
            module.bias.zero_()


def freeze(model, example):
    """Script, freeze (weights become constants) and let PyTorch fold BatchNorm and pick its inference kernels."""
    frozen = torch.jit.freeze(torch.jit.script(model.eval()))
    if hasattr(torch.jit, "optimize_for_inference"):
        frozen = torch.jit.optimize_for_inference(frozen)
    # The first calls of a frozen module run the JIT's profiling and fusion passes.
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            frozen(example)
    return frozen


def percentile(sorted_values, fraction):
    """Nearest rank, as scripts/bench-engine.ts computes it."""
    rank = math.ceil(fraction * len(sorted_values)) - 1
    return sorted_values[min(len(sorted_values) - 1, max(0, rank))]


def check(model, frozen, example):
    """Block sizes as Keras', frozen output equal to the eager one, softmax summing to 1."""
    sizes = {}
    hooks = [
        block.register_forward_hook(lambda _m, _i, out, name=name: sizes.__setitem__(name, out.shape[-1]))
        for name, block in model.named_children()
        if name in KERAS_BLOCK_SIZES
    ]
    with torch.inference_mode():
        eager = model(example)
        output = frozen(example)
    for hook in hooks:
        hook.remove()
    log("block sizes: " + ", ".join(f"{name} {size}" for name, size in sizes.items()))
    log(f"output shape {tuple(output.shape)}, softmax sum {output.sum().item():.6f}, "
        f"top-1 probability {output.max().item():.4f}, max |frozen - eager| {(output - eager).abs().max().item():.2e}")
    wrong = {name: size for name, size in sizes.items() if size != KERAS_BLOCK_SIZES[name]}
    if wrong or tuple(output.shape) != (1, CLASSES) or abs(output.sum().item() - 1) > 1e-4:
        log(f"mismatch with Keras' Xception: sizes {wrong}" if wrong else "unexpected output")
        return 1
    if not torch.allclose(output, eager, rtol=1e-3, atol=1e-5):
        log("the frozen module's output differs from the eager model's")
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    parser.add_argument("--runs", type=int, default=20, help="timed forward passes (default 20)")
    parser.add_argument("--check", action="store_true", help="verify the model against Keras' and exit")
    args = parser.parse_args()
    if args.threads < 1 or args.runs < 1:
        parser.error("--threads and --runs must be at least 1")

    # Inter-op threads can be set only once and before any parallel work; batch 1 has no independent ops to overlap.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = xception()
    seed_weights(model)
    model.eval()
    # Xception's preprocessing scales pixels to [-1, 1].
    example = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE) * 2 - 1

    log(f"torch {torch.__version__}, {args.threads} threads: scripting, freezing, {WARMUP_RUNS} warm-up runs…")
    frozen = freeze(model, example)
    if args.check:
        return check(model, frozen, example)

    times = []
    with torch.inference_mode():
        for _ in range(args.runs):
            start = time.perf_counter()
            frozen(example)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(json.dumps({
        "torch": torch.__version__,
        "threads": args.threads,
        "median_ms": round(percentile(times, 0.5), 2),
        "p90_ms": round(percentile(times, 0.9), 2),
        "runs": args.runs,
        "mkldnn": torch.backends.mkldnn.is_available(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
