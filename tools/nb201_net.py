# zcbench's own PyTorch reference network, the one that made test/fixtures/nb201 (same file as
# the refbench harness uses); kept here so that tools/fixtures_newproxies.py is self-contained.
"""A plain PyTorch NAS-Bench-201 network, written for the refbench timing harness.

Layout (CIFAR, 3x32x32 input):
  stem      conv3x3(3->16, no bias) + BN
  stage 1   5 cells, C=16, 32x32
  reduce    residual block 16->32, stride 2
  stage 2   5 cells, C=32, 16x16
  reduce    residual block 32->64, stride 2
  stage 3   5 cells, C=64, 8x8
  head      BN + ReLU + global average pool + flatten + linear(64->classes)

A cell has 4 nodes and 6 edges (i -> j, i < j); node j is the sum of its
incoming edges.  The architecture is given as 6 op indices in the edge order
(1,2), (1,3), (1,4), (2,3), (2,4), (3,4) using NASLib's op numbering:

  0 skip_connect   1 none   2 nor_conv_3x3   3 nor_conv_1x1   4 avg_pool_3x3

(this numbering is the one used for the keys of the NAS-Bench-Suite-Zero
zero-cost json files, e.g. '(4, 0, 3, 1, 4, 3)'; it is NOT the op order of
the NAS-Bench-201 API, where 0 is 'none').

The module tree mirrors the leaf modules of NASLib's NB201 graph after an
architecture is fixed (all batch norms affine with running stats, ReLUs as
nn.ReLU modules, 'none' edges compute x * 0), so that NASLib's measures and
the tensorwatch/torchstat counter see the same layers.  Class names avoid the
substring 'ReLU' on purpose: NASLib's nwot measure hooks every module whose
type name contains 'ReLU' (it excludes NASLib's own wrapper classes by
checking for 'naslib' in the type name).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAMES = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5


def parse_arch(text):
    """Accepts '(4, 0, 3, 1, 4, 3)', '4,0,3,1,4,3', '403143' or an NB201 string
    '|nor_conv_3x3~0|+|...'; returns a tuple of 6 NASLib op indices."""
    text = text.strip()
    if "~" in text:
        nodes = [n.strip("|") for n in text.split("+")]
        ops = {}
        for j, node in enumerate(nodes, start=2):
            for item in node.split("|"):
                name, src = item.split("~")
                ops[(int(src) + 1, j)] = OP_NAMES.index(name)
        return tuple(ops[e] for e in EDGES)
    digits = [c for c in text if c.isdigit()]
    if len(digits) != 6:
        raise ValueError(f"expected 6 op indices, got {text!r}")
    return tuple(int(c) for c in digits)


def arch_to_nb201_str(arch):
    name = {e: OP_NAMES[o] for e, o in zip(EDGES, arch)}
    nodes = []
    for j in (2, 3, 4):
        nodes.append("|" + "|".join(f"{name[(i, j)]}~{i - 1}" for i in range(1, j)) + "|")
    return "+".join(nodes)


def is_degenerate(arch):
    """True when no path joins the cell input to the cell output."""
    reach = {1}
    for (i, j), op in zip(EDGES, arch):
        if op != 1 and i in reach:
            reach.add(j)
    return 4 not in reach


class ConvUnit(nn.Module):
    """ReLU -> Conv (no bias) -> BN, as in NB201's nor_conv ops."""

    def __init__(self, c_in, c_out, k, stride=1):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x):
        return self.op(x)


class ZeroEdge(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


class SkipEdge(nn.Module):
    def forward(self, x):
        return x


class PoolEdge(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x)


def make_edge(op, c):
    if op == 0:
        return SkipEdge()
    if op == 1:
        return ZeroEdge()
    if op == 2:
        return ConvUnit(c, c, 3)
    if op == 3:
        return ConvUnit(c, c, 1)
    if op == 4:
        return PoolEdge()
    raise ValueError(op)


class Cell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.edges = nn.ModuleList(make_edge(op, c) for op in arch)

    def forward(self, x):
        e = self.edges
        n2 = e[0](x)
        n3 = e[1](x) + e[3](n2)
        return e[2](x) + e[4](n2) + e[5](n3)


class Reduction(nn.Module):
    """NB201 residual block between stages (stride 2, channels doubled)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ConvUnit(c_in, c_out, 3, stride=2)
        self.conv_b = ConvUnit(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    def __init__(self, arch, num_classes=10, in_channels=3):
        super().__init__()
        self.arch = tuple(arch)
        self.num_classes = num_classes
        c0, c1, c2 = CHANNELS
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0)
        )
        body = []
        for stage, c in enumerate(CHANNELS):
            if stage > 0:
                body.append(Reduction(CHANNELS[stage - 1], c))
            body.extend(Cell(self.arch, c) for _ in range(CELLS_PER_STAGE))
        self.body = nn.Sequential(*body)
        self.head = nn.Sequential(
            nn.BatchNorm2d(c2),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c2, num_classes),
        )

    def forward(self, x, *unused):
        return self.head(self.body(self.stem(x)))

    def forward_before_global_avg_pool(self, x):
        """Feature map that enters the global average pool (after the last BN+ReLU);
        NASLib's zen measure needs this method."""
        y = self.body(self.stem(x))
        return self.head[1](self.head[0](y))

    def get_loss_fn(self):
        return F.cross_entropy


# ---------------------------------------------------------------------------
# Independent parameter / FLOP counter (own implementation of the convention
# used by tensorwatch 0.9.1's torchstat analyzer, which NASLib calls for its
# 'params' and 'flops' proxies).  Counted on one forward pass of a batch-1
# input in eval mode, over leaf modules that actually ran:
#   Conv2d        k_h*k_w*(C_in/groups)*C_out*H_out*W_out  (+ C_out*H_out*W_out if bias)
#   Linear        in_features*out_features
#   BatchNorm2d   2*numel(input) if affine else numel(input)
#   ReLU          numel(input)
#   AvgPool2d     C*H_out*W_out*k*k   (output size from the formula, count_include_pad ignored)
#   AdaptiveAvgPool2d  sum over output cells of C*(rows+1)*(cols+1) of its window
#                      (the '+1' is a quirk of the original code: 8x8 -> 1x1 counts 81 per channel)
#   anything else 0
# params = numel of the parameters of every leaf module that ran (BN weight
# and bias included, running stats excluded).
# ---------------------------------------------------------------------------


def _adaptive_pool_cost(c, h, w, oh, ow):
    total = 0
    for i in range(oh):
        y0, y1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            x0, x1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            total += c * (y1 - y0 + 1) * (x1 - x0 + 1)
    return total


def count_params_flops(net, input_shape=(1, 3, 32, 32)):
    import copy

    net = copy.deepcopy(net).eval()
    totals = {"params": 0, "flops": 0}
    seen = set()

    def hook(mod, inputs, output):
        if id(mod) in seen:
            return
        seen.add(id(mod))
        x = inputs[0]
        totals["params"] += sum(p.numel() for p in mod.parameters())
        f = 0
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            f = kh * kw * (x.shape[1] // mod.groups) * output[0].numel() * output.shape[0]
            if mod.bias is not None:
                f += output.numel()
        elif isinstance(mod, nn.Linear):
            f = x.shape[0] * mod.in_features * mod.out_features
        elif isinstance(mod, nn.BatchNorm2d):
            f = x.numel() * (2 if mod.affine else 1)
        elif isinstance(mod, nn.ReLU):
            f = x.numel()
        elif isinstance(mod, nn.AvgPool2d):
            k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
            s = mod.stride if isinstance(mod.stride, int) else mod.stride[0]
            p = mod.padding if isinstance(mod.padding, int) else mod.padding[0]
            oh = (x.shape[2] + 2 * p - k) // s + 1
            ow = (x.shape[3] + 2 * p - k) // s + 1
            f = x.shape[0] * x.shape[1] * oh * ow * k * k
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            f = x.shape[0] * _adaptive_pool_cost(
                x.shape[1], x.shape[2], x.shape[3], output.shape[2], output.shape[3]
            )
        totals["flops"] += int(f)

    handles = [
        m.register_forward_hook(hook)
        for m in net.modules()
        if len(list(m.children())) == 0
    ]
    with torch.no_grad():
        net(torch.rand(*input_shape, device=next(net.parameters()).device))
    for h in handles:
        h.remove()
    return totals["params"] / 1e6, totals["flops"] / 1e6
