"""timm's side of tests/timm_parity.rs: what timm's own `timm.data.mixup` code gives, for the Rust test
to compare with the crate's. Needs timm, torch and numpy. The request is JSON on stdin.

  fixed DIR  For each scenario K of the request, `Mixup.__call__` on DIR/x.npy and DIR/y.npy with the
             draws forced to the scenario's (λ, the Mixup/CutMix choice, the `rand_bbox` boxes); writes
             timm's images and targets to DIR/timm_x_K.npy and DIR/timm_t_K.npy.
  spans      For each [lam, len] of the request, `rand_bbox`'s span along a side of length len at every
             centre 0..len-1 (numpy's centre draw replaced by the centres); prints one line per request,
             "lo hi" for each centre in order.
  sample     `Mixup.__call__` (prob, switch_prob, mode, correct_lam, alphas, cutmix_minmax as given) run
             `calls` times on an [n, 1, h, w] batch after `np.random.seed(seed)`; prints one line per draw
             (batch: one a call, pair: n/2, elem: n): "keep LAM", "mixup LAM" or
             "cutmix LAM Y0 Y1 X0 X1", LAM being the λ of the target. timm's functions do the drawing;
             `_params_per_*` and `cutmix_bbox_and_lam` are only wrapped to record what they return.

It reaches into timm's private parts, which a timm release may rename: `fixed` replaces
`Mixup._params_per_batch` and `Mixup._params_per_elem` and the module's `rand_bbox` (which
`cutmix_bbox_and_lam` looks up at call time); `spans` replaces `np.random.randint` for the process (a centre
draw becomes every centre in order) and reads the row spans of a square image; `sample` wraps
`_params_per_*` and `cutmix_bbox_and_lam`. The Rust side checks the counts of what it reads back, so a
renamed hook fails the test instead of emptying it.

The test runs it as `$TCH_MIXCUT_TIMM_PYTHON scripts/timm_parity.py COMMAND [DIR]`.
"""
import argparse
import json
import sys

import numpy as np
import torch
import timm.data.mixup as tm


def mixup(cfg, num_classes, smoothing):
    """timm's Mixup with the request's options."""
    return tm.Mixup(
        mixup_alpha=cfg.get("mixup_alpha", 1.0), cutmix_alpha=cfg.get("cutmix_alpha", 1.0),
        cutmix_minmax=cfg.get("cutmix_minmax"), prob=cfg.get("prob", 1.0), switch_prob=cfg.get("switch_prob", 0.5),
        mode=cfg["mode"], correct_lam=cfg["correct_lam"], label_smoothing=smoothing, num_classes=num_classes)


def fixed(req, d):
    """timm's images and targets for forced draws, saved beside the inputs."""
    x = torch.from_numpy(np.load(f"{d}/x.npy"))
    y = torch.from_numpy(np.load(f"{d}/y.npy"))
    rand_bbox = tm.rand_bbox
    try:
        for k, s in enumerate(req["scenarios"]):
            m = mixup(s, req["classes"], s["smoothing"])
            lam, cut = s["lam"], s["cutmix"]
            boxes = [tuple(b) for b, l, c in zip(s["boxes"], lam, cut) if c and l != 1.0]
            tm.rand_bbox = lambda img_shape, lam, margin=0.0, count=None: boxes.pop(0)
            m._params_per_batch = lambda: (lam[0], cut[0])
            m._params_per_elem = lambda n: (np.array(lam, dtype=np.float32), np.array(cut, dtype=bool))
            xo, t = m(x.clone(), y)
            assert not boxes, f"scenario {k}: {len(boxes)} boxes left unused"
            np.save(f"{d}/timm_x_{k}.npy", xo.numpy())
            np.save(f"{d}/timm_t_{k}.npy", t.numpy())
    finally:
        tm.rand_bbox = rand_bbox


def spans(req):
    """rand_bbox's span at every centre, one line per [lam, len]."""
    randint = np.random.randint
    np.random.randint = lambda lo, hi=None, size=None: np.arange(lo, hi)
    try:
        for lam, n in req:
            lo, hi, _, _ = tm.rand_bbox((n, n), lam, count=n)
            print(" ".join(f"{a} {b}" for a, b in zip(lo, hi)))
    finally:
        np.random.randint = randint


def sample(req):
    """timm's draws, one line each, as its targets and boxes see them."""
    n, h, w = req["n"], req["h"], req["w"]
    np.random.seed(req["seed"])
    m = mixup(req, n, 0.0)
    draws, cuts = [], []
    per_elem, per_batch, cutmix_bbox_and_lam = m._params_per_elem, m._params_per_batch, tm.cutmix_bbox_and_lam

    def record(params):
        lam, use = params
        draws.extend(zip(np.atleast_1d(lam), np.atleast_1d(use)))
        return params

    def record_cut(*args, **kwargs):
        cuts.append(cutmix_bbox_and_lam(*args, **kwargs))
        return cuts[-1]

    m._params_per_elem = lambda size: record(per_elem(size))
    m._params_per_batch = lambda: record(per_batch())
    tm.cutmix_bbox_and_lam = record_cut
    try:
        x, y = torch.zeros(n, 1, h, w), torch.arange(n)
        for _ in range(req["calls"]):
            m(x, y)
    finally:
        tm.cutmix_bbox_and_lam = cutmix_bbox_and_lam
    cuts.reverse()
    for lam, use in draws:
        if lam == 1.0:
            print("keep 1.0")
        elif not use:
            print(f"mixup {float(lam)!r}")
        else:
            (y0, y1, x0, x1), lam = cuts.pop()
            # timm's elem and pair modes hold the corrected λ in float32, as the drawn one.
            lam = float(np.float32(lam)) if req["mode"] != "batch" else float(lam)
            print("keep 1.0" if lam == 1.0 else f"cutmix {lam!r} {y0} {y1} {x0} {x1}")
    assert not cuts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fixed", "spans", "sample"])
    parser.add_argument("dir", nargs="?", help="fixed: the folder with x.npy, y.npy and the outputs")
    args = parser.parse_args()
    request = json.load(sys.stdin)
    if args.command == "fixed":
        fixed(request, args.dir)
    else:
        {"spans": spans, "sample": sample}[args.command](request)
