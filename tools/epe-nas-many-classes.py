#!/usr/bin/python3
"""Golden fixture: epe_nas on an ImageNet16-120 batch of 32 (120 classes, most with 0-1 sample).

Extends ../shared/refbench/fixtures.py (imported from --refbench; nothing of it is copied): its
NB201 network, parameter naming, safetensors writer and NASLib harness (run_naslib, one
find_measures call on a fresh network loaded back from the written file). NASLib's own
epe_nas.py (branch zerocost, 8c45f19d) computes the value.

Also measures, with NASLib's code, how much epe_nas at 120 classes / batch 32 depends on the
minibatch: the same architectures scored on several batches of uniformly drawn labels (as
NASLib's runner draws a new shuffled batch per architecture); the rank agreement between two
batches bounds the agreement any reimplementation can reach with the released table.

Not run in CI. Usage (Debian's torch; NASLib's pruners extracted as refbench/setup.sh does):
    nice /usr/bin/python3 tools/epe-nas-many-classes.py --refbench ../shared/refbench --naslib ~/zc-ref/naslib
"""
import argparse, json, os, sys
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--refbench", default="/work/shared/refbench")
ap.add_argument("--naslib", default=os.path.expanduser("~/zc-ref/naslib"))
ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "epe-many-classes"))
ap.add_argument("--spread-archs", type=int, default=30)
ap.add_argument("--spread-batches", type=int, default=5)
ap.add_argument("--spread-datasets", default="ImageNet16-120,cifar10")
args = ap.parse_args()
sys.path.insert(0, args.refbench)
import fixtures as fx  # noqa: E402

BATCH = 32
# one class 3x, three classes 2x, 23 singletons: 27 classes present, 93 empty
PATTERN = (3, 2, 2, 2) + (1,) * 23
CASES = [("ImageNet16-120", "(2, 2, 3, 0, 3, 2)", 301), ("ImageNet16-120", "(4, 0, 3, 1, 4, 3)", 302)]


def make_batch(case, pattern=PATTERN):
    g = torch.Generator().manual_seed(case.seed)
    x = torch.randn(BATCH, case.channels, case.side, case.side, generator=g)
    if pattern is None:  # uniform labels, as synthetic data and a shuffled real loader give
        labels = torch.randint(case.num_classes, (BATCH,), generator=g)
    else:
        classes = torch.randperm(case.num_classes, generator=g)[: len(pattern)]
        labels = torch.cat([c.repeat(n) for c, n in zip(classes, pattern)])[torch.randperm(BATCH, generator=g)]
    return x, labels.to(torch.int32)


def epe(predictive, case, tensors):
    values, printed, _ = fx.run_naslib(predictive, case, tensors, proxies=["epe_nas"])
    return values["epe_nas"], printed.get("epe_nas")


def build(predictive, dataset, arch, seed):
    case = fx.Case(dataset, arch, seed)
    torch.manual_seed(seed)
    net = fx.new_net(case)
    x, labels = make_batch(case)
    tensors = [(n, p.detach().clone()) for n, p in fx.param_table(net).items()] + [("input", x), ("labels", labels)]
    data = fx.safetensors_bytes(tensors, {"format": fx.FORMAT, "names": fx.NAME_SCHEME, "case": case.name, "naslib_commit": fx.NASLIB_COMMIT})
    name = f"{case.name}_b32"
    with open(os.path.join(args.out, name + ".safetensors"), "wb") as f:
        f.write(data)
    stored, _ = fx.read_safetensors(open(os.path.join(args.out, name + ".safetensors"), "rb").read())
    raw, printed = epe(predictive, case, stored)
    raw2, _ = epe(predictive, case, stored)
    assert fx.same_value(raw, raw2), (raw, raw2)
    lab = stored["labels"].numpy()
    counts = {int(c): int((lab == c).sum()) for c in dict.fromkeys(lab.tolist())}
    own = fx.own_epe_nas(fx.input_jacobian(case, stored), stored["labels"], case.num_classes)
    doc = {
        "case": name, "arch": case.arch_key, "dataset": dataset, "num_classes": case.num_classes, "batch": BATCH, "seed": seed,
        "label_counts": counts, "classes_present": len(counts), "classes_kept": sum(1 for n in counts.values() if n >= 2),
        "proxies": {"epe_nas": {"raw": fx.json_number(raw), "value": fx.postprocess("epe_nas", raw), "tolerance": fx.TOLERANCE["epe_nas"]}},
        "naslib_printed": printed, "own_recompute_float64": own,
        "origin": f"NASLib {fx.NASLIB_COMMIT} naslib/predictors/pruners/measures/epe_nas.py via predictive.find_measures; tools/epe-nas-many-classes.py",
    }
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(name, raw, "own float64", own, "kept", doc["classes_kept"], "of", len(counts))


def ranks(v):
    v = np.asarray(v, dtype=float); order = v.argsort(kind="stable"); r = np.empty(len(v)); r[order] = np.arange(len(v))
    for u in np.unique(v):
        m = v == u; r[m] = r[m].mean()
    return r


def spread(predictive, dataset):
    rng = np.random.default_rng(7)
    archs = [tuple(int(a) for a in rng.integers(0, 5, 6)) for _ in range(args.spread_archs)]
    table = []
    for i, a in enumerate(archs):
        row = []
        for b in range(args.spread_batches):
            case = fx.Case(dataset, str(a), 400 + i)
            torch.manual_seed(400 + i)
            net = fx.new_net(case)
            bc = fx.Case(dataset, str(a), 900 + b)
            x, labels = make_batch(bc, pattern=None)
            t = {**{n: p.detach().clone() for n, p in fx.param_table(net).items()}, "input": x, "labels": labels}
            row.append(fx.postprocess("epe_nas", epe(predictive, case, t)[0]))
        table.append(row)
        print("spread", a, [round(v, 3) for v in row], flush=True)
    m = np.array(table)
    rho = [np.corrcoef(ranks(m[:, i]), ranks(m[:, j]))[0, 1] for i in range(m.shape[1]) for j in range(i + 1, m.shape[1])]
    within = float(m.std(1).mean()); between = float(m.mean(1).std())
    out = {"dataset": dataset, "batch": BATCH, "within_arch_sd_mean": within, "between_arch_sd_of_means": between, "archs": [str(a) for a in archs], "scores_arch_by_batch": table,
           "spearman_between_batches": {"mean": float(np.mean(rho)), "min": float(np.min(rho)), "max": float(np.max(rho)), "pairs": len(rho)}}
    print(dataset, "spearman between batches", out["spearman_between_batches"], "sd within", within, "between", between, flush=True)
    return out


if __name__ == "__main__":
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    predictive = fx.import_naslib(args.naslib, "/nonexistent-tensorwatch")
    for c in CASES:
        build(predictive, *c)
    if args.spread_archs > 0:
        result = {d: spread(predictive, d) for d in args.spread_datasets.split(",")}
        with open(os.path.join(args.out, "batch-dependence.json"), "w") as f:
            json.dump(result, f, indent=1)
