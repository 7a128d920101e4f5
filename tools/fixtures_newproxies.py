#!/usr/bin/python3
"""Golden fixtures for zico, meco, swap and az_nas, computed by their authors' own code.

Run with Debian's PyTorch (python3-torch, python3-numpy, python3-scipy):

    /usr/bin/python3 tools/fixtures_newproxies.py            # write test/fixtures/newproxies/
    /usr/bin/python3 tools/fixtures_newproxies.py --verify   # recompute from the stored files, compare

The authors' files are not part of this repository: they are read at run time from bare git
copies of the four public repositories (``--zico-git`` ... or ``$ZC_REF_GIT_ROOT/<owner>+<name>/repo``),
at the commits pinned in REFS, extracted into a temporary directory and imported from there
unchanged. Only our own glue lives here: loading the stored NB201 networks of
test/fixtures/nb201 into the networks those functions expect, recording (or replaying) every
random tensor the functions draw, and writing tensors (safetensors) and values (json).
See test/fixtures/newproxies/README.md for what each proxy computes and what the files hold.
"""

import argparse
import ast
import contextlib
import copy
import hashlib
import importlib.util
import json
import math
import os
import platform
import struct
import subprocess
import sys
import tempfile
import types
from collections import OrderedDict

import numpy as np
import scipy
import scipy.stats
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nb201_net  # noqa: E402

ROOT = os.path.dirname(HERE)
BASE_DIR = os.path.join(ROOT, "test", "fixtures", "nb201")
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "newproxies")
FORMAT = "zcbench-newproxies-fixture/1"
CASES = ["cifar10_023231", "cifar10_403143", "cifar10_111111", "ImageNet16-120_232023"]

REFS = {
    "zico": {
        "repo": "SLDGroup/ZiCo",
        "commit": "b0fec65923a90e84501593f675b1e2f422d79e3d",
        "licence": "Apache-2.0 (LICENSE); compute_zico.py carries 'Copyright (C) 2010-2021 Alibaba Group Holding Limited'",
        "files": ["ZeroShotProxy/compute_zico.py", "evolution_search.py", "LICENSE"],
    },
    "meco": {
        "repo": "HamsterMimi/MeCo",
        "commit": "0d830dd2f639f9d1ba3b5831a65df768d70fc93b",
        "licence": "MIT (LICENSE, 'Copyright (c) 2021 zerocostptnas'); the foresight files carry "
                   "Samsung Electronics' Apache-2.0 headers (zero-cost-nas/LICENSE is Apache-2.0)",
        "files": [
            "correlation/NAS_Bench_201.py",
            "correlation/foresight/models/nasbench2.py",
            "correlation/foresight/models/nasbench2_ops.py",
            "zero-cost-nas/foresight/pruners/measures/meco.py",
            "correlation/foresight/pruners/measures/meco.py",
            "LICENSE",
        ],
    },
    "swap": {
        "repo": "pym1024/SWAP",
        "commit": "f6049f7c979b0cfc9ac5a13666fedb79dfe3cce8",
        "licence": "none stated: the repository has no LICENSE file (so its code is not copied here)",
        "files": ["src/__init__.py", "src/metrics/__init__.py", "src/metrics/swap.py",
                  "src/utils/__init__.py", "src/utils/utilities.py", "correlation.py"],
    },
    "az_nas": {
        "repo": "cvlab-yonsei/AZ-NAS",
        "commit": "5e6683a2cfa5c6d0dc34a1317a842497ba7eae47",
        "licence": "GPL-3.0 (LICENSE)",
        "files": ["NB201/ZeroShotProxy/compute_az_nas_score.py", "NB201/custom/tss_model.py",
                  "NB201/tss_general.ipynb", "LICENSE"],
    },
}

# SWAP's code defines no mu/sigma for any space (correlation.py runs regular=False); these are
# test values that make the factor exp(-(params_K - mu)^2 / sigma) non-trivial on all cases.
SWAP_MU, SWAP_SIGMA = 500.0, 1.0e5
SEED_OFFSET = {"zico_minibatch": 2000, "az_nas": 3000, "meco_random64": 4000}
LABEL_PATTERN = (3, 2, 2, 1)  # as test/fixtures/nb201: one class 3x, two 2x, one 1x

# Acceptance test |got - v| <= max(abs, rel*|v|), from the precision study (see README).
TOLERANCE = {
    # two minibatches: mean|g|/std(g) = (|g1|+|g2|)/|g1-g2| is dominated by the few weights whose
    # gradients nearly agree; float32 vs float64 moved single layers' logs by up to 2.1 and the
    # total by <= 5.7e-3 relative (threads 9e-4)
    "zico": {"rel": 1e-2, "abs": 0.0},
    # 150-450 hook sites, half of them rank-deficient (min eigenvalue ~1e-7 noise); measured
    # <= 6.6e-5 absolute, 2.2e-6 relative
    "meco": {"rel": 1e-4, "abs": 1e-3},
    "meco_batch": {"rel": 1e-4, "abs": 1e-3},
    "meco_random64": {"rel": 1e-4, "abs": 1e-3},
    # counts: exact in every study; a ReLU input flipping across 0 changes one neuron's pattern
    "swap": {"rel": 0.0, "abs": 2.0},
    "swap_regularised": {"rel": 1e-4, "abs": 0.0},
    "az_nas.expressivity": {"rel": 1e-5, "abs": 1e-6},   # measured <= 1.8e-7
    "az_nas.progressivity": {"rel": 1e-4, "abs": 1e-5},  # <= 4.4e-6 rel, 4e-7 abs
    "az_nas.trainability": {"rel": 5e-4, "abs": 1e-6},   # <= 1.2e-5 (f64), 7.6e-5 (NHWC)
    "az_nas.complexity": {"rel": 0.0, "abs": 1e-9},      # the flops count of test/fixtures/nb201
}
CPU = torch.device("cpu")


# ---------------------------------------------------------------------------
# safetensors (F32, I32; U8 readable): 8-byte LE header length, JSON header padded to 8, raw data
# ---------------------------------------------------------------------------

_ST = {torch.float32: ("F32", "<f4"), torch.int32: ("I32", "<i4"), torch.uint8: ("U8", "u1")}
_ST_NP = {"F32": "<f4", "I32": "<i4", "U8": "u1", "F64": "<f8", "I64": "<i8"}


def safetensors_bytes(tensors, metadata):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name, t in tensors:
        code, np_dtype = _ST[t.dtype]
        raw = np.ascontiguousarray(t.detach().cpu().numpy()).astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    out = OrderedDict()
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = info["data_offsets"]
        dt = np.dtype(_ST_NP[info["dtype"]])
        arr = np.frombuffer(data, dtype=dt, count=(end - start) // dt.itemsize, offset=8 + n + start)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).astype(dt.newbyteorder("="), copy=True))
    return out, meta


def pack_signs(t):
    """bernoulli draws (0./1.) -> int32 words (readable as I32 by src/core/safetensors.ts):
    element e (row-major) is bit e % 32, least significant first, of word e // 32."""
    bits = t.detach().reshape(-1).to(torch.float64).numpy()
    if not np.all((bits == 0) | (bits == 1)) or bits.size % 32:
        raise ValueError("bernoulli draw holds values other than 0 and 1, or not a multiple of 32 of them")
    return torch.from_numpy(np.packbits(bits.astype(np.uint8), bitorder="little").view("<i4").astype(np.int32))


def unpack_signs(packed, shape):
    n = int(np.prod(shape))
    raw = packed.numpy().astype("<i4").view(np.uint8)
    bits = np.unpackbits(raw, bitorder="little")[:n]
    return torch.from_numpy(bits.astype(np.float32)).reshape(shape)


def sha256_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ---------------------------------------------------------------------------
# the authors' code, extracted from the pinned commits and imported unchanged
# ---------------------------------------------------------------------------

def git_root_default(repo):
    root = os.environ.get("ZC_REF_GIT_ROOT", "/work/.mirror")
    return os.path.join(root, repo.replace("/", "+"), "repo")


def extract_refs(git_dirs, dest):
    for key, ref in REFS.items():
        gd = git_dirs[key]
        for path in ref["files"]:
            try:
                blob = subprocess.run(["git", "--git-dir", gd, "show", f"{ref['commit']}:{path}"],
                                      check=True, capture_output=True).stdout
            except (subprocess.CalledProcessError, FileNotFoundError) as e:
                raise SystemExit(f"cannot read {ref['repo']}@{ref['commit'][:12]}:{path} from --{key}-git={gd}: {e}")
            target = os.path.join(dest, key, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "wb").write(blob)


def import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def function_from_source(path, func_name, namespace):
    """The unchanged text of one top-level function of a file whose module-level imports we
    cannot satisfy (datasets, NATS-Bench), compiled in a namespace of what it uses."""
    text = open(path).read()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == func_name:
            exec(compile(ast.get_source_segment(text, node), path, "exec"), namespace)
            return namespace[func_name]
    raise SystemExit(f"{path}: no function {func_name}")


def measure_package(dir_name, meco_path, dest):
    """zero-cost-nas measures are imported as `from . import measure`: give them a package whose
    __init__ offers the decorator as a no-op (the registry plays no part in the value)."""
    pkg = os.path.join(dest, dir_name)
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").write(
        "def measure(name, bn=True, copy_net=True, force_clean=True, **kw):\n"
        "    return lambda f: f\n")
    open(os.path.join(pkg, "meco.py"), "w").write(open(meco_path).read())
    sys.path.insert(0, dest)
    return importlib.import_module(f"{dir_name}.meco")


def load_refs(git_dirs):
    tmp = tempfile.mkdtemp(prefix="zc-newproxies-")
    extract_refs(git_dirs, tmp)
    r = types.SimpleNamespace(tmp=tmp)
    # ZiCo: compute_zico.py imports global_utils and ModelLoader at module level but uses neither
    for stub in ("global_utils", "ModelLoader"):
        sys.modules.setdefault(stub, types.ModuleType(stub))
    r.zico = import_file("ref_compute_zico", os.path.join(tmp, "zico/ZeroShotProxy/compute_zico.py"))
    # MeCo: the NB201 correlation script's get_score, its NB201 model, and two packaged measures
    m = os.path.join(tmp, "meco")
    r.meco_get_score = function_from_source(os.path.join(m, "correlation/NAS_Bench_201.py"), "get_score",
                                            {"torch": torch, "random": __import__("random")})
    pkg = os.path.join(tmp, "meco_models")
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").write("")
    for f in ("nasbench2.py", "nasbench2_ops.py"):
        open(os.path.join(pkg, f), "w").write(open(os.path.join(m, "correlation/foresight/models", f)).read())
    sys.path.insert(0, tmp)
    r.meco_models = importlib.import_module("meco_models.nasbench2")
    r.meco_batch = measure_package("meco_zcn_measures", os.path.join(m, "zero-cost-nas/foresight/pruners/measures/meco.py"), tmp)
    r.meco_random64 = measure_package("meco_corr_measures", os.path.join(m, "correlation/foresight/pruners/measures/meco.py"), tmp)
    # SWAP: `from src.utils.utilities import count_parameters`
    sys.path.insert(0, os.path.join(tmp, "swap"))
    r.swap = importlib.import_module("src.metrics.swap")
    r.swap_utils = importlib.import_module("src.utils.utilities")
    # AZ-NAS
    r.az_nas = import_file("ref_compute_az_nas_score", os.path.join(tmp, "az_nas/NB201/ZeroShotProxy/compute_az_nas_score.py"))
    r.az_rank_snippet = az_nas_rank_snippet(os.path.join(tmp, "az_nas/NB201/tss_general.ipynb"))
    return r


def az_nas_rank_snippet(nb_path):
    """The lines of tss_general.ipynb that combine the parts into AZ-NAS's score: from
    `rank_agg = None` to the end of the loop over results.keys()."""
    nb = json.load(open(nb_path))
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if "xargs.zero_shot_score.lower() == 'az_nas'" in src:
            lines = src.split("\n")
            start = next(i for i, l in enumerate(lines) if l.strip() == "rank_agg = None")
            end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("best_idx"))
            block = [l[4:] for l in lines[start:end]]  # drop the if-branch indentation
            return "\n".join(block)
    raise SystemExit(f"{nb_path}: AZ-NAS rank aggregation cell not found")


# ---------------------------------------------------------------------------
# networks: the stored NB201 fixtures, in our module tree and in MeCo's
# ---------------------------------------------------------------------------

EDGE_NAMES = tuple(f"{i - 1}-{j - 1}" for i, j in nb201_net.EDGES)


def param_table(net):
    """Fixture parameter name -> parameter of an NB201Net (scheme nb201-params/1)."""
    t = OrderedDict()
    t["stem.conv.weight"], t["stem.bn.weight"], t["stem.bn.bias"] = net.stem[0].weight, net.stem[1].weight, net.stem[1].bias

    def unit(prefix, u):
        t[prefix + ".conv.weight"], t[prefix + ".bn.weight"], t[prefix + ".bn.bias"] = u.op[1].weight, u.op[2].weight, u.op[2].bias

    cell = red = 0
    for block in net.body:
        if isinstance(block, nb201_net.Reduction):
            unit(f"reductions.{red}.conv_a", block.conv_a)
            unit(f"reductions.{red}.conv_b", block.conv_b)
            t[f"reductions.{red}.shortcut.conv.weight"] = block.shortcut[1].weight
            red += 1
        else:
            for pos, edge in enumerate(block.edges):
                if isinstance(edge, nb201_net.ConvUnit):
                    unit(f"cells.{cell}.edge.{EDGE_NAMES[pos]}", edge)
            cell += 1
    t["lastact.bn.weight"], t["lastact.bn.bias"] = net.head[0].weight, net.head[0].bias
    t["classifier.weight"], t["classifier.bias"] = net.head[4].weight, net.head[4].bias
    if [id(p) for p in t.values()] != [id(p) for p in net.parameters()]:
        raise AssertionError("naming table does not cover net.parameters() in order")
    return t


def prunable_names(net):
    by_id = {id(p): n for n, p in param_table(net).items()}
    return [by_id[id(m.weight)] for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class AzNasNB201(nb201_net.NB201Net):
    """NB201Net plus the feature list AZ-NAS reads (its NB201/custom/tss_model.py
    extract_cell_features): the stem output, then the output of each of the 17 blocks
    (15 cells, 2 residual blocks), each with retain_grad()."""

    def extract_cell_features(self, inputs):
        feature = self.stem(inputs)
        features = [feature]
        for block in self.body:
            feature = block(feature)
            features.append(feature)
        for f in features:
            if f.requires_grad:
                f.retain_grad()
        return features


class Study:
    """Numerical setting of one computation: dtype and memory layout."""

    def __init__(self, dtype=torch.float32, channels_last=False):
        self.dtype, self.channels_last = dtype, channels_last

    def net(self, net):
        net = net.to(self.dtype)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def x(self, t):
        t = t.to(self.dtype)
        return t.contiguous(memory_format=torch.channels_last) if (self.channels_last and t.dim() == 4) else t


F32 = Study()


def nb201(case, base, cls=nb201_net.NB201Net, study=F32):
    net = cls(case["arch"], num_classes=case["num_classes"], in_channels=3)
    with torch.no_grad():
        for name, p in param_table(net).items():
            p.copy_(base[name])
    return study.net(net)


def meco_model(case, base, refs, study=F32):
    """MeCo's own NB201 model (foresight NAS201Model) with the stored weights. Its cell
    convs have a bias (affine=False BN): set to 0; its cell BNs have no affine parameters,
    which equals ours because every stored cell BN has gamma = 1, beta = 0 (checked)."""
    net = refs.meco_models.get_model_from_arch_str(case["nb201_string"], case["num_classes"])
    ops = list(refs.meco_models.OPS.keys()) if hasattr(refs.meco_models, "OPS") else None
    ops = ops or ["none", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect"]
    names = dict(zip(range(5), nb201_net.OP_NAMES))
    with torch.no_grad():
        def put(p, name):
            if tuple(p.shape) != tuple(base[name].shape):
                raise ValueError(f"{name}: {tuple(base[name].shape)} vs MeCo model {tuple(p.shape)}")
            p.copy_(base[name])

        put(net.stem.net[0].weight, "stem.conv.weight")
        put(net.stem.net[1].weight, "stem.bn.weight")
        put(net.stem.net[1].bias, "stem.bn.bias")
        cells = [c for s in (net.stack_cell1, net.stack_cell2, net.stack_cell3) for c in s]
        for k, cell in enumerate(cells):
            for pos, op in enumerate(case["arch"]):
                if op not in (2, 3):
                    continue
                i, j = (n - 1 for n in nb201_net.EDGES[pos])  # SearchCell: edges by target node, then source
                mod = cell.options[(j * (j - 1) // 2 + i) * len(ops) + ops.index(names[op])]
                prefix = f"cells.{k}.edge.{EDGE_NAMES[pos]}"
                put(mod.op[1].weight, prefix + ".conv.weight")
                mod.op[1].bias.zero_()
                g, b = base[prefix + ".bn.weight"], base[prefix + ".bn.bias"]
                if not (torch.all(g == 1) and torch.all(b == 0)):
                    raise ValueError(f"{prefix}.bn is not gamma=1, beta=0: MeCo's affine-free cell BN differs")
        for r, red in enumerate((net.reduction1, net.reduction2)):
            for u in ("conv_a", "conv_b"):
                unit = getattr(red, u)
                put(unit.op[1].weight, f"reductions.{r}.{u}.conv.weight")
                put(unit.op[2].weight, f"reductions.{r}.{u}.bn.weight")
                put(unit.op[2].bias, f"reductions.{r}.{u}.bn.bias")
            put(red.residual[1].weight, f"reductions.{r}.shortcut.conv.weight")
        put(net.top.lastact[0].weight, "lastact.bn.weight")
        put(net.top.lastact[0].bias, "lastact.bn.bias")
        put(net.classifier.weight, "classifier.weight")
        put(net.classifier.bias, "classifier.bias")
        net.train()
        if not torch.allclose(net(base["input"]), base["check.logits"], rtol=1e-4, atol=1e-4):  # as NB201Net: 1.7e-5
            raise AssertionError(f"{case['name']}: MeCo's model with the stored weights gives other logits")
    return study.net(net)


# ---------------------------------------------------------------------------
# random draws: recorded (global torch generator, seeded) or replayed from the files
# ---------------------------------------------------------------------------

class Draws:
    """Wraps torch.randn, torch.bernoulli and nn.init.kaiming_normal_ while a reference
    function runs. record: pass through and keep each output; replay: hand back the stored
    tensors in order, cast to the study dtype. kaiming_normal_ is always injected with the
    given weights (the stored fixture weights), so AZ-NAS's re-initialisation is pinned down."""

    def __init__(self, replay=None, kaiming=None, dtype=torch.float32):
        self.replay = None if replay is None else {k: list(v) for k, v in replay.items()}
        self.kaiming = list(kaiming or [])
        self.dtype = dtype
        self.drawn = {"randn": [], "bernoulli": [], "kaiming_normal_": []}

    def __enter__(self):
        self.saved = (torch.randn, torch.bernoulli, nn.init.kaiming_normal_)
        orig_randn, orig_bern, _ = self.saved

        def randn(*args, **kwargs):
            if self.replay is None:
                out = orig_randn(*args, **kwargs)
            else:
                out = self.replay["randn"].pop(0).to(self.dtype)
                want = kwargs.get("size", args[0] if len(args) == 1 else args)
                if tuple(out.shape) != tuple(want):
                    raise ValueError(f"replayed randn has shape {tuple(out.shape)}, code asked {tuple(want)}")
            self.drawn["randn"].append(out.detach().clone())
            return out

        def bernoulli(p, *args, **kwargs):
            if self.replay is None:
                out = orig_bern(p, *args, **kwargs)
            else:
                out = self.replay["bernoulli"].pop(0).to(p.dtype)
                if out.shape != p.shape:
                    raise ValueError(f"replayed bernoulli has shape {tuple(out.shape)}, code asked {tuple(p.shape)}")
            self.drawn["bernoulli"].append(out.detach().clone())
            return out

        def kaiming_normal_(tensor, *args, **kwargs):
            src = self.kaiming.pop(0)
            with torch.no_grad():
                tensor.copy_(src)
            self.drawn["kaiming_normal_"].append(tuple(tensor.shape))
            return tensor

        torch.randn, torch.bernoulli, nn.init.kaiming_normal_ = randn, bernoulli, kaiming_normal_
        return self

    def __exit__(self, *exc):
        torch.randn, torch.bernoulli, nn.init.kaiming_normal_ = self.saved
        if exc[0] is None:
            if self.kaiming:
                raise AssertionError(f"{len(self.kaiming)} kaiming weights left unused")
            if self.replay and any(self.replay.values()):
                raise AssertionError("replayed draws left unused")


@contextlib.contextmanager
def cpu_only():
    """The reference functions run on CUDA: .cuda() is the identity here, and .cpu() copies as
    the device-to-host transfer does. Without that copy ZiCo's getgrad keeps numpy views of
    the .grad buffers, which zero_grad() (torch 1.13 zeroes in place) and the next backward
    overwrite: every minibatch would hold the last one's gradient, std = 0 and ZiCo = 0."""
    saved = (nn.Module.cuda, torch.Tensor.cuda, torch.Tensor.cpu)
    nn.Module.cuda = lambda self, *a, **k: self
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.Tensor.cpu = lambda self, *a, **k: self.clone()
    try:
        yield
    finally:
        nn.Module.cuda, torch.Tensor.cuda, torch.Tensor.cpu = saved


def rng_state():
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy()


def rng_unchanged(before):
    after = rng_state()
    return bool(torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]))


RNG_TOUCHED = {}


def watch_rng(label, fn, *args, **kwargs):
    """Calls one reference function and notes whether it used the global torch/NumPy generators
    (it must not, beyond the draws Draws replays)."""
    before = rng_state()
    out = fn(*args, **kwargs)
    RNG_TOUCHED[label] = RNG_TOUCHED.get(label, False) or not rng_unchanged(before)
    return out


def make_batch(num_classes, side, seed):
    """Same recipe as test/fixtures/nb201 (standard-normal images, label multiplicities 3,2,2,1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, side, side, generator=g)
    classes = torch.randperm(num_classes, generator=g)[: len(LABEL_PATTERN)]
    labels = torch.cat([c.repeat(n) for c, n in zip(classes, LABEL_PATTERN)])
    return x, labels[torch.randperm(8, generator=g)].to(torch.int32)


# ---------------------------------------------------------------------------
# the four proxies, each through its authors' function
# ---------------------------------------------------------------------------

def run_zico(refs, case, base, extra, study=F32):
    net = nb201(case, base, study=study)
    batches = [[study.x(base["input"]), base["labels"].long()],
               [study.x(extra["zico.minibatch1.input"]), extra["zico.minibatch1.labels"].long()]]
    kept = {}
    orig = refs.zico.caculate_zico

    def keep_then_compute(grad_dict):
        kept.update({k: np.array(v, dtype=np.float64) for k, v in grad_dict.items()})
        return orig(grad_dict)

    refs.zico.caculate_zico = keep_then_compute
    try:
        with cpu_only():
            value = watch_rng("zico", refs.zico.getzico, net, batches, nn.CrossEntropyLoss())
    finally:
        refs.zico.caculate_zico = orig
    return float(value), zico_per_layer(kept, prunable_names(nb201(case, base)))


def zico_per_layer(grads, names):
    """Own float64 recomputation from the gradients the authors' getgrad collected:
    per conv/linear weight, log sum_{std>0} mean|g| / std(g) (std over minibatches, ddof 0)."""
    out = []
    for (mod_name, g), name in zip(grads.items(), names):
        std, mean_abs = g.std(axis=0), np.abs(g).mean(axis=0)
        nz = std != 0
        ratio = mean_abs[nz] / std[nz]
        s = float(np.sum(ratio))
        top = float(ratio.max()) if ratio.size else 0.0
        out.append({"max_ratio": top, "top_share": top / s if s > 0 else None,"layer": name, "module": mod_name, "numel": int(g.shape[1]), "nonzero_std": int(nz.sum()),
                    "sum_ratio": s, "log_sum_ratio": math.log(s) if s > 0 else None})
    return out


def run_meco(refs, case, base, extra, study=F32):
    x = study.x(base["input"])
    values = {}
    values["meco"] = float(watch_rng("meco", refs.meco_get_score, meco_model(case, base, refs, study), x[0:1], CPU, measure="meco"))
    v = watch_rng("meco_batch", refs.meco_batch.compute_meco, meco_model(case, base, refs, study), x, base["labels"].long())
    values["meco_batch"] = float(v) if not isinstance(v, tuple) else float("nan")
    with Draws(replay={"randn": [extra["meco.random64.input"]]}, dtype=study.dtype):
        net = meco_model(case, base, refs, study)
        v = watch_rng("meco_random64", refs.meco_random64.compute_meco, net, x, base["labels"].long())
    values["meco_random64"] = float(v) if not isinstance(v, tuple) else float("nan")
    return values


def meco_sites(refs, case, base, x, model="meco"):
    """Own float64 list of what MeCo's hooks see on input x: every module call, in call
    order, with the min eigenvalue of the channel correlation of sample 0's output."""
    net = meco_model(case, base, refs, Study(torch.float64)) if model == "meco" else nb201(case, base, study=Study(torch.float64))
    sites = []

    def hook_for(name):
        def hook(mod, inp, out):
            fea = out[0].detach().reshape(out[0].shape[0], -1)
            corr = torch.corrcoef(fea)
            corr[torch.isnan(corr)] = 0
            corr[torch.isinf(corr)] = 0
            ev = torch.linalg.eigvalsh(corr)
            sites.append({"module": name or "<root>", "type": type(mod).__name__,
                          "sample0_shape": list(out[0].shape), "min_eig": float(ev.min())})
        return hook

    for name, mod in net.named_modules():
        mod.register_forward_hook(hook_for(name))
    with torch.no_grad():
        net(x.to(torch.float64))
    return sites


def run_swap(refs, case, base, extra, study=F32):
    x16 = study.x(torch.cat([base["input"], extra["zico.minibatch1.input"]]))
    net = nb201(case, base, study=study)
    plain = watch_rng("swap", lambda: refs.swap.SWAP(model=net, inputs=x16, device=CPU, seed=0).forward())
    reg_net = nb201(case, base, study=study)
    s = watch_rng("swap_regularised", refs.swap.SWAP, model=reg_net, inputs=x16, device=CPU, seed=0,
                  regular=True, mu=SWAP_MU, sigma=SWAP_SIGMA)
    regularised = watch_rng("swap_regularised", s.forward)
    params_k = float(refs.swap_utils.count_parameters(reg_net))
    return {"swap": float(plain), "swap_regularised": float(regularised),
            "regular_factor": float(s.regular_factor), "params_thousands": params_k}


def swap_neurons(case, base, extra):
    net = nb201(case, base)
    sizes, near = [], []

    def hook(mod, inp, out):
        sizes.append(int(out[0].numel()))
        near.append(int((inp[0].abs() < 1e-6).sum() - (inp[0] == 0).sum()))

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.cat([base["input"], extra["zico.minibatch1.input"]]))
    return {"relu_calls": len(sizes), "neurons": sum(sizes), "relu_inputs_within_1e-6_of_zero_nonzero": sum(near)}


def kaiming_sources(net_for_order, base):
    """The stored weights, in the order AZ-NAS's init_model (model.apply) visits conv/linear."""
    names = prunable_names(net_for_order)
    return [base[n] for n in names]


def run_az_nas(refs, case, base, extra=None, study=F32, record_seed=None):
    net = nb201(case, base, cls=AzNasNB201, study=study)
    replay = None
    if extra is not None:
        replay = {"randn": [extra["az_nas.input"]],
                  "bernoulli": [unpack_signs(extra[f"az_nas.g_out.{i}"], case["az_g_out_shapes"][str(i)])
                                for i in range(17, 0, -1)]}
    if record_seed is not None:
        torch.manual_seed(record_seed)
    with cpu_only(), Draws(replay=replay, kaiming=kaiming_sources(net, base), dtype=study.dtype) as d:
        info = watch_rng("az_nas" if replay else "az_nas_recording", refs.az_nas.compute_nas_score, net, gpu=None,
                         trainloader=None, resolution=case["side"], batch_size=8)
    return dict(info), d.drawn


def az_nas_own(case, base, extra):
    """Own float64 recomputation of the three parts, with per-feature terms."""
    net = nb201(case, base, cls=AzNasNB201, study=Study(torch.float64))
    with torch.no_grad():
        net.head[4].bias.zero_()
    feats = net.extract_cell_features(extra["az_nas.input"].double())
    expr = []
    for f in feats:
        b, c, h, w = f.shape
        z = f.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
        z = z - z.mean(0, keepdim=True)
        s = torch.linalg.eigvalsh(z.T @ z / z.shape[0])
        p = s / s.sum()
        expr.append(float((-p * torch.log(p + 1e-8)).sum()))
    train = []
    for i in range(17, 0, -1):
        g_out = (unpack_signs(extra[f"az_nas.g_out.{i}"], case["az_g_out_shapes"][str(i)]).double() - 0.5) * 2
        g_in = torch.autograd.grad(feats[i], feats[i - 1], grad_outputs=g_out, retain_graph=True)[0]
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            train.append(-math.inf)
            continue
        if g_in.shape[2] != g_out.shape[2]:
            g_in = nn.PixelUnshuffle(g_in.shape[2] // g_out.shape[2])(g_in)
        bo, co, ho, wo = g_out.shape
        m = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).T @ g_out.permute(0, 2, 3, 1).reshape(-1, co) / (bo * ho * wo)
        smax = float(torch.linalg.svdvals(m).max())
        train.append(-smax - 1 / (smax + 1e-6) + 2)
    e = np.array(expr)
    return {"expressivity_per_feature": expr, "trainability_per_block_from_last": train,
            "expressivity": float(np.sum(e)), "progressivity": float(np.min(e[1:] - e[:-1])),
            "trainability": float(np.mean(train))}


def rank_score(refs, parts_by_case, flops_by_case):
    """Runs tss_general.ipynb's aggregation lines on the population of fixture networks."""
    results = OrderedDict((k, [parts_by_case[c][k] for c in parts_by_case]) for k in ("expressivity", "progressivity", "trainability"))
    ns = {"np": np, "stats": scipy.stats, "results": results, "api_flops": list(flops_by_case.values())}
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exec(refs.az_rank_snippet, ns)
    return [float(v) for v in ns["rank_agg"]]


# ---------------------------------------------------------------------------
# cases, precision study, writing, verifying
# ---------------------------------------------------------------------------

def load_case(name):
    meta = json.load(open(os.path.join(BASE_DIR, name + ".json")))
    base, _ = read_safetensors(os.path.join(BASE_DIR, meta["tensor_file"]))
    side = meta["input_shape"][2]
    arch = tuple(meta["arch"]) if isinstance(meta["arch"], list) else nb201_net.parse_arch(str(meta["arch"]))
    case = {"name": name, "arch": arch, "nb201_string": meta["nb201_string"], "num_classes": meta["num_classes"],
            "side": side, "seed": meta["seed"]["data"], "dataset": meta["dataset"],
            "flops": meta["proxies"]["flops"]["value"], "params": meta["proxies"]["params"]["value"],
            "base_file": meta["tensor_file"], "base_sha256": sha256_file(os.path.join(BASE_DIR, meta["tensor_file"]))}
    feats = AzNasNB201(arch, num_classes=case["num_classes"]).extract_cell_features(torch.zeros(8, 3, side, side))
    for k, v in base.items():
        if ".bn." in k and not torch.all(v == (1 if k.endswith("weight") else 0)):
            raise ValueError(f"{name}: {k} is not the gamma=1/beta=0 that AZ-NAS's init_model sets")
    case["az_g_out_shapes"] = {str(i): list(feats[i].shape) for i in range(1, 18)}
    return case, base


def draw_extras(refs, case, base):
    x, y = make_batch(case["num_classes"], case["side"], case["seed"] + SEED_OFFSET["zico_minibatch"])
    extra = OrderedDict([("zico.minibatch1.input", x), ("zico.minibatch1.labels", y)])
    torch.manual_seed(case["seed"] + SEED_OFFSET["meco_random64"])
    with Draws() as d:
        refs.meco_random64.compute_meco(meco_model(case, base, refs), base["input"], base["labels"].long())
    extra["meco.random64.input"] = d.drawn["randn"][0]
    info, drawn = run_az_nas(refs, case, base, record_seed=case["seed"] + SEED_OFFSET["az_nas"])
    extra["az_nas.input"] = drawn["randn"][0]
    for i, t in zip(range(17, 0, -1), drawn["bernoulli"]):
        if list(t.shape) != case["az_g_out_shapes"][str(i)]:
            raise AssertionError(f"g_out {i}: {list(t.shape)}")
        extra[f"az_nas.g_out.{i}"] = pack_signs(t)
    return extra, info


def golden(refs, case, base, extra, study=F32):
    out = {}
    out["zico"], per_layer = run_zico(refs, case, base, extra, study)
    out.update(run_meco(refs, case, base, extra, study))
    if study.channels_last:  # SWAP's own code .view()s the activations: NCHW only
        sw, out["swap"], out["swap_regularised"] = {}, None, None
    else:
        sw = run_swap(refs, case, base, extra, study)
        out["swap"], out["swap_regularised"] = sw["swap"], sw["swap_regularised"]
    info, _ = run_az_nas(refs, case, base, extra, study)
    for k in ("expressivity", "progressivity", "trainability"):
        out[f"az_nas.{k}"] = info[k]
    out["az_nas.complexity"] = case["flops"]
    return out, {"zico_per_layer": per_layer, "swap": sw}


def rel(a, b):
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def jnum(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
    return v


def jclean(o):
    if isinstance(o, dict):
        return {k: jclean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jclean(v) for v in o]
    return jnum(o)


def unjnum(v):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else v


def within(got, want, tol):
    if got == want or (math.isnan(got) and math.isnan(want)):
        return True
    return math.isfinite(got) and math.isfinite(want) and abs(got - want) <= max(tol["abs"], tol["rel"] * abs(want))


def tensor_list(extra):
    return list(extra.items())


def write_case(refs, case, base):
    torch.set_num_threads(1)
    extra, info_record = draw_extras(refs, case, base)
    path = os.path.join(OUT_DIR, case["name"] + ".safetensors")
    meta = {"format": FORMAT, "case": case["name"], "base": case["base_file"], "base_sha256": case["base_sha256"]}
    open(path, "wb").write(safetensors_bytes(tensor_list(extra), meta))
    extra, _ = read_safetensors(path)  # compute from what was written

    RNG_TOUCHED.clear()
    values, diag = golden(refs, case, base, extra)
    draws_only_stored = {k: not v for k, v in RNG_TOUCHED.items() if k != "az_nas_recording"}
    again, _ = golden(refs, case, base, extra)
    deterministic = all(rel(values[k], again[k]) == 0 for k in values)
    for k in ("expressivity", "progressivity", "trainability"):
        if rel(values[f"az_nas.{k}"], info_record[k]) != 0:
            raise AssertionError(f"az_nas.{k}: replay {values[f'az_nas.{k}']} != record {info_record[k]}")

    f64, diag64 = golden(refs, case, base, extra, Study(torch.float64))
    nhwc, _ = golden(refs, case, base, extra, Study(torch.float32, channels_last=True))
    torch.set_num_threads(2)
    thr, _ = golden(refs, case, base, extra)
    torch.set_num_threads(1)
    precision = {k: {"f64": f64[k], "rel_f32_vs_f64": rel(values[k], f64[k]), "abs_f32_vs_f64": abs(values[k] - f64[k])
                     if math.isfinite(values[k]) and math.isfinite(f64[k]) else (0.0 if values[k] == f64[k] else math.inf),
                     "rel_nhwc": None if nhwc[k] is None else rel(values[k], nhwc[k]), "rel_threads": rel(values[k], thr[k])} for k in values}

    own_az = az_nas_own(case, base, extra)
    x0 = base["input"][0:1]
    diagnostics = {
        "zico_per_layer": diag["zico_per_layer"],
        "zico_per_layer_f64_run": [{k: l[k] for k in ("layer", "log_sum_ratio", "max_ratio", "top_share")}
                                   for l in diag64["zico_per_layer"]],
        "zico_own_f64_sum_of_logs": sum(l["log_sum_ratio"] for l in diag["zico_per_layer"] if l["log_sum_ratio"] is not None),
        "meco_sites": meco_sites(refs, case, base, x0),
        "meco_on_nb201net_tree": float(refs.meco_get_score(nb201(case, base), x0, CPU, measure="meco")),
        "swap": {**diag["swap"], **swap_neurons(case, base, extra)},
        "az_nas_own_f64": own_az,
    }
    diagnostics["meco_own_f64_sum"] = sum(s["min_eig"] for s in diagnostics["meco_sites"])
    doc = OrderedDict([
        ("format", FORMAT), ("case", case["name"]), ("arch", list(case["arch"])), ("nb201_string", case["nb201_string"]),
        ("dataset", case["dataset"]), ("num_classes", case["num_classes"]),
        ("base_fixture", {"json": f"../nb201/{case['name']}.json", "tensors": f"../nb201/{case['base_file']}",
                          "sha256": case["base_sha256"], "uses": "parameters, input [8,3,H,W], labels"}),
        ("tensor_file", case["name"] + ".safetensors"),
        ("tensors", {k: {"dtype": _ST[v.dtype][0], "shape": list(v.shape)} for k, v in tensor_list(extra)}),
        ("az_nas_g_out_shapes", case["az_g_out_shapes"]),
        ("draw_seeds", {"zico.minibatch1": case["seed"] + SEED_OFFSET["zico_minibatch"],
                        "meco.random64": case["seed"] + SEED_OFFSET["meco_random64"],
                        "az_nas": case["seed"] + SEED_OFFSET["az_nas"]}),
        ("swap_mu_sigma", {"mu": SWAP_MU, "sigma": SWAP_SIGMA, "units": "thousands of parameters"}),
        ("tolerance_rule", "|got - value| <= max(abs, rel * |value|); equal non-finite values pass"),
        ("proxies", {k: {"value": values[k], "tolerance": TOLERANCE[k]} for k in values}),
        ("determinism", {"two_runs_identical": deterministic, "global_rng_untouched_by_reference_call": draws_only_stored,
                         "record_equals_replay": True, "torch_threads": 1}),
        ("precision", precision),
        ("diagnostics", diagnostics),
        ("generator", generator_info()),
    ])
    json.dump(jclean(doc), open(os.path.join(OUT_DIR, case["name"] + ".json"), "w"), indent=1, allow_nan=False)
    return values


def generator_info():
    return {"script": "tools/fixtures_newproxies.py",
            "references": {k: {"repo": v["repo"], "commit": v["commit"], "licence": v["licence"], "files": v["files"]}
                           for k, v in REFS.items()},
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version()}


def write_population(refs, values_by_case, flops):
    parts = OrderedDict((c, {k: v[f"az_nas.{k}"] for k in ("expressivity", "progressivity", "trainability")})
                        for c, v in values_by_case.items())
    agg = rank_score(refs, parts, flops)
    doc = OrderedDict([
        ("format", FORMAT), ("what", "AZ-NAS combined score over the population of the fixture networks"),
        ("population", list(values_by_case)),
        ("complexity", list(flops.values())),
        ("parts", parts),
        ("az_nas", dict(zip(values_by_case, agg))),
        ("tolerance", {"rel": 1e-12, "abs": 1e-12}),
        ("generator", generator_info()),
    ])
    json.dump(jclean(doc), open(os.path.join(OUT_DIR, "population.json"), "w"), indent=1, allow_nan=False)
    return agg


def verify(refs):
    torch.set_num_threads(1)
    ok, values_by_case, flops = True, OrderedDict(), OrderedDict()
    for name in CASES:
        case, base = load_case(name)
        doc = json.load(open(os.path.join(OUT_DIR, name + ".json")))
        if doc["base_fixture"]["sha256"] != case["base_sha256"]:
            print(f"{name}: base fixture changed (sha256)")
            ok = False
        extra, _ = read_safetensors(os.path.join(OUT_DIR, doc["tensor_file"]))
        values, _ = golden(refs, case, base, extra)
        for k, v in values.items():
            want = unjnum(doc["proxies"][k]["value"])
            good = within(v, want, doc["proxies"][k]["tolerance"])
            ok &= good
            print(f"{name:24s} {k:22s} {v!r:>24} stored {want!r:>24}  rel {rel(v, want):.1e} {'ok' if good else 'FAIL'}")
        values_by_case[name], flops[name] = values, case["flops"]
    pop = json.load(open(os.path.join(OUT_DIR, "population.json")))
    parts = OrderedDict((c, {k: v[f"az_nas.{k}"] for k in ("expressivity", "progressivity", "trainability")})
                        for c, v in values_by_case.items())
    for c, v in zip(values_by_case, rank_score(refs, parts, flops)):
        want = unjnum(pop["az_nas"][c])
        good = within(v, want, pop["tolerance"])
        ok &= good
        print(f"{c:24s} {'az_nas (rank)':22s} {v!r:>24} stored {want!r:>24}  {'ok' if good else 'FAIL'}")
    print("verify:", "all within tolerance" if ok else "MISMATCH")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for k, v in REFS.items():
        ap.add_argument(f"--{k.replace('_', '-')}-git", default=git_root_default(v["repo"]),
                        help=f"bare git copy of github.com/{v['repo']} holding commit {v['commit'][:12]}")
    ap.add_argument("--verify", action="store_true", help="recompute from the stored files and compare")
    ap.add_argument("--cases", nargs="*", default=CASES)
    args = ap.parse_args()
    refs = load_refs({k: getattr(args, f"{k}_git") for k in REFS})
    if args.verify:
        sys.exit(0 if verify(refs) else 1)
    os.makedirs(OUT_DIR, exist_ok=True)
    values_by_case, flops = OrderedDict(), OrderedDict()
    for name in args.cases:
        case, base = load_case(name)
        values_by_case[name] = write_case(refs, case, base)
        flops[name] = case["flops"]
        print(name, json.dumps(jclean(values_by_case[name])))
    if list(args.cases) == CASES:
        print("population", write_population(refs, values_by_case, flops))


if __name__ == "__main__":
    main()
