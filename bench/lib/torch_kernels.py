"""Times PyTorch's CPU kernels on the shapes bench/ceiling.ts gives it (JSON on stdin), one thread
count at a time, and prints one JSON object: seconds per call (median of reps, after a warm-up).
Same operations as the TypeScript side: NHWC data is NCHW here (PyTorch's native layout), the
arithmetic is identical. Run by bench/ceiling.ts; needs Debian's python3-torch."""
import json
import sys
import time

import torch


def median_seconds(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": []}
    for s in spec["shapes"]:
        n, h, w, cin = s["x"]
        x = torch.randn(n, cin, h, w, requires_grad=True)
        conv = torch.nn.Conv2d(cin, s["cout"], 3, stride=s["stride"], padding=1, bias=False)
        bn = torch.nn.BatchNorm2d(s["cout"])
        y = conv(x)
        dy = torch.randn_like(y)

        def forward():
            with torch.no_grad():
                conv(x)

        def backward():
            # Both gradients of one convolution: what one backward step of a network costs per conv.
            torch.autograd.grad(conv(x), [x, conv.weight], dy)

        def batch_norm_relu():
            # Training-mode batch norm + ReLU, forward and backward, on the conv's output shape.
            z = y.detach().requires_grad_(True)
            torch.autograd.grad(torch.relu(bn(z)), [z], dy)

        out["rows"].append({
            "name": s["name"],
            "forward": median_seconds(forward, spec["reps"]),
            "backward": median_seconds(backward, spec["reps"]),
            "batchNormRelu": median_seconds(batch_norm_relu, spec["reps"]),
        })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
