"""``make bench``: the standard torchvision data path against the workbook's, side by side.

(a) standard: torchvision ``FashionMNIST`` with ``ToTensor`` (one PIL image at a time) and a
    shuffling ``DataLoader`` with worker processes.
(b) workbook: ``utils.data.load_data_fashion_mnist``, both splits kept in memory as tensors.
(c) no data path: (b)'s batches of one epoch, all made before the clock starts and replayed
    every epoch: the model and training loop alone, the time no data path can beat.
(d) NumPy, gradient by hand: ``utils.numpy_softmax.SoftmaxRegression`` (notebook 04b), no autograd,
    on (b)'s arrays, from (b)'s starting weights and in (b)'s shuffled order; CPU only.

(a) to (c) train the same model (``Flatten`` + ``Linear(784, 10)``, weights N(0, 0.01^2), zero
bias) with the same seed, loss, SGD and the same ``utils.train.train_epoch`` /
``evaluate_accuracy``, so only the data path differs; (d) trains that model on (b)'s batches
without torch, so only the way the gradient is computed differs. Each pipeline runs in a fresh subprocess,
one after the other: a process's memory high-water mark never goes down, so measuring them in
one process would charge (b) with (a)'s peak, and a fresh process also starts with cold
caches and thread pools for all alike. The parent samples the resident memory (RSS) of
each subprocess and its DataLoader workers every 20 ms and sums it over the process tree;
pages the forked workers share with their parent are counted once per process, so for (a)
it is an upper bound. The subprocess also reports its own exact high-water mark.

Real data only: the benchmark sets ``FASHION_MNIST_STRICT=1`` and refuses the offline
stand-in. Run from the repository root: ``python -m benchmarks.bench --help``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT_TAG = "BENCH_RESULT "
PIPELINES = {"standard": "(a) standard", "workbook": "(b) workbook", "premade": "(c) no data path",
             "numpy": "(d) NumPy, gradient by hand"}
DATA_PATHS = ("standard", "workbook", "premade")  # the pipelines that train with torch on every device
# The targets on a 2-core CPU, checked for the full settings (10 epochs, all data, batch 256).
TARGET_SPEEDUP, TARGET_SECONDS, TARGET_TEST_ACC, TARGET_ACC_GAP = 20.0, 0.25, 0.83, 0.005
FULL_SETTINGS = {"epochs": 10, "batch_size": 256, "subset": None}


# ---------------------------------------------------------------- one pipeline (subprocess)

class _ToDevice:
    """The standard GPU recipe: move every batch from the host to ``device`` as it comes."""

    def __init__(self, loader, device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for X, y in self.loader:
            yield X.to(self.device), y.to(self.device)


class _SameShuffle:
    """A sampler that shuffles exactly like `utils.data.BatchIterator` (``torch.randperm`` on the
    global generator), so that under one seed (a) and (b) train on the very same batches and
    differ only in how the batches are made."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        import torch

        return iter(torch.randperm(self.n).tolist())


def _standard_loaders(job: dict):
    import torch
    from torchvision import datasets, transforms

    from utils.data import data_root

    root, to_tensor = str(data_root()), transforms.ToTensor()
    splits = [datasets.FashionMNIST(root, train=train, transform=to_tensor, download=False)
              for train in (True, False)]
    if job["subset"]:
        splits = [torch.utils.data.Subset(s, range(min(job["subset"], len(s)))) for s in splits]
    # The training loader shuffles (through `_SameShuffle`). Each loader gets its own generator
    # to seed its workers, so that neither draws from the global one (the shuffle's and the weights').
    loaders = [torch.utils.data.DataLoader(splits[0], job["batch_size"], sampler=_SameShuffle(len(splits[0])),
                                           num_workers=job["workers"], generator=torch.Generator()),
               torch.utils.data.DataLoader(splits[1], job["batch_size"], shuffle=False, num_workers=job["workers"],
                                           generator=torch.Generator())]
    if job["device"] != "cpu":
        loaders = [_ToDevice(loader, torch.device(job["device"])) for loader in loaders]
    return loaders


def _workbook_loaders(job: dict):
    from utils.data import BatchIterator, load_data_fashion_mnist

    train_iter, test_iter = load_data_fashion_mnist(job["batch_size"], device=job["device"])
    if job["subset"]:
        n = job["subset"]
        train_iter = BatchIterator(train_iter.X[:n], train_iter.y[:n], job["batch_size"], shuffle=True)
        test_iter = BatchIterator(test_iter.X[:n], test_iter.y[:n], job["batch_size"], shuffle=False)
    return train_iter, test_iter


def _premade_batches(job: dict):
    """(c): one epoch of (b)'s batches, made up front; each epoch replays them in the same order."""
    return [list(loader) for loader in _workbook_loaders(job)]


def _peak_rss_self_mb() -> float | None:
    """This process's exact RSS high-water mark (kernel-tracked), in MB."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def _train(job: dict, seed: int, train_data, test_data) -> dict:
    """Train the benchmark's model from ``seed``; time each epoch (training and evaluation)."""
    import torch
    from torch import nn

    from utils.train import evaluate_accuracy, train_epoch

    torch.manual_seed(seed)  # same weights and same first shuffle draw in both pipelines
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.normal_(net[1].weight, std=0.01)
    nn.init.zeros_(net[1].bias)
    net.to(job["device"])
    loss = nn.CrossEntropyLoss()
    updater = torch.optim.SGD(net.parameters(), lr=job["lr"])
    times = []
    for _ in range(job["epochs"]):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(net, train_data, loss, updater)  # ends with a sync
        test_acc = evaluate_accuracy(net, test_data)
        times.append(time.perf_counter() - start)
    return {"epoch_times": times, "train_loss": train_loss, "train_acc": train_acc, "test_acc": test_acc}


def _numpy_arrays(job: dict):
    """(d): (b)'s images and labels as NumPy arrays, one flattened image per row (no copy)."""
    return [(it.X.reshape(len(it.X), -1).numpy(), it.y.numpy()) for it in _workbook_loaders(job)]


def _train_numpy(job: dict, seed: int, train_data, test_data) -> dict:
    """(d): the hand-derived gradient in NumPy, from (b)'s starting weights and in (b)'s batch order."""
    import torch
    from torch import nn

    from utils.numpy_softmax import SoftmaxRegression

    torch.manual_seed(seed)  # the same draws as `_train`: the same weights, then the same permutations
    layer = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))[1]
    nn.init.normal_(layer.weight, std=0.01)
    model = SoftmaxRegression(lr=job["lr"], batch_size=job["batch_size"])
    model.W = layer.weight.detach().numpy().T.copy()
    (X, y), (X_test, y_test) = train_data, test_data
    times = []
    for _ in range(job["epochs"]):
        start = time.perf_counter()
        train_loss, train_acc = model.train_epoch(X, y, order=torch.randperm(len(X)).numpy())
        test_acc = float((model.predict(X_test) == y_test).mean())
        times.append(time.perf_counter() - start)
    return {"epoch_times": times, "train_loss": train_loss, "train_acc": train_acc, "test_acc": test_acc}


def _run_numpy(job: dict) -> dict:
    """Time (d): one bare pass of NumPy batch gathering, then the training epochs."""
    import torch

    train_data, test_data = _numpy_arrays(job)
    X, y = train_data
    torch.manual_seed(job["seed"])
    start = time.perf_counter()
    order = torch.randperm(len(X)).numpy()
    for i in range(0, len(X), job["batch_size"]):  # no model: what making the batches alone costs
        index = order[i:i + job["batch_size"]]
        X[index], y[index]
    data_pass = time.perf_counter() - start
    result = _train_numpy(job, job["seed"], train_data, test_data)
    result.update(data_pass=data_pass, peak_rss_self_mb=_peak_rss_self_mb(), gpu_peak_mb=None, other_seeds={})
    return result


def run_pipeline(job: dict) -> dict:
    """Time one pipeline: one bare pass over the training data, then the training epochs."""
    import torch

    from utils.train import training_threads

    warnings.filterwarnings("ignore", message="This DataLoader will create")  # (a) on a 2-CPU machine
    if job["pipeline"] == "numpy":
        return _run_numpy(job)
    if training_threads():  # the bare data pass too runs with the threads that train_epoch uses
        torch.set_num_threads(training_threads())
    device = torch.device(job["device"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    loaders = {"standard": _standard_loaders, "workbook": _workbook_loaders,
               "premade": _premade_batches}[job["pipeline"]](job)
    train_data, test_data = loaders

    torch.manual_seed(job["seed"])
    start = time.perf_counter()
    for X, y in train_data:  # no model: what the data path alone costs
        pass
    sync()
    data_pass = time.perf_counter() - start

    result = _train(job, job["seed"], train_data, test_data)
    result.update(
        data_pass=data_pass, peak_rss_self_mb=_peak_rss_self_mb(),
        gpu_peak_mb=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        # the final test accuracy from other seeds: how much of an (a)-(b) gap is chance
        other_seeds={seed: _train(job, seed, train_data, test_data)["test_acc"] for seed in job.get("other_seeds", [])},
    )
    return result


# ---------------------------------------------------------------- the parent

def _tree_rss_bytes(pid: int) -> int:
    """Summed RSS of ``pid`` and all its descendants (Linux /proc, else psutil)."""
    if any(Path("/proc/self/task").glob("*/children")):  # Linux with /proc/<pid>/task/<tid>/children
        total, stack, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
        while stack:
            p = stack.pop()
            try:
                total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
                for task in os.listdir(f"/proc/{p}/task"):
                    stack += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
            except (OSError, ValueError):  # the process (or thread) ended meanwhile
                continue
        return total
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def _numpy_threads_env(env: dict) -> dict:
    """NumPy's matrix products (OpenBLAS) with as many threads as `utils.train` gives torch."""
    value = env.get("WORKBOOK_TORCH_THREADS", "").strip() or "1"
    return {"OPENBLAS_NUM_THREADS": value} if value != "0" else {}


def _run_child(job: dict, env_extra: dict | None = None) -> dict:
    """Run `run_pipeline` in a fresh interpreter, sampling its process tree's RSS."""
    env = {**os.environ, "FASHION_MNIST_STRICT": "1", **(env_extra or {})}
    if job["pipeline"] == "numpy":
        env.update(_numpy_threads_env(env))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench", "--child", json.dumps(job)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_bytes(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    lines = [line for line in out.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode or not lines:
        sys.exit(f"The {job['pipeline']} pipeline on {job['device']} failed (exit code {proc.returncode}); "
                 f"its output:\n{out}")
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result["peak_rss_tree_mb"] = max(peak[0] / 2**20, result["peak_rss_self_mb"] or 0)
    return result


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "load average unknown"


def _gpu_skip_reason() -> str | None:
    """None when CUDA can be used, else why not."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"this torch build ({torch.__version__}) has no CUDA support"
    return f"torch {torch.__version__} supports CUDA {torch.version.cuda}, but no CUDA GPU or driver is usable here"


def _header(args) -> str:
    import torch
    import torchvision

    from utils.data import describe
    from utils.train import THREADS_VARIABLE, training_threads

    threads = training_threads()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return "\n".join([
        f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {_load()}",
        f"Machine: {_cpu_model()}, {os.cpu_count()} logical CPUs; GPU: {gpu}; {platform.platform()}",
        f"Versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}",
        f"Threads in utils.train: {threads if threads else 'torch default'} "
        f"(${THREADS_VARIABLE}={os.environ.get(THREADS_VARIABLE, '<unset>')}; "
        f"torch default here {torch.get_num_threads()})",
        describe(),
        f"Settings: {args.epochs} epochs, batch {args.batch_size}, SGD lr {args.lr}, seed {args.seed}, "
        f"(a) num_workers={args.workers}, "
        + (f"first {args.subset} training and test examples" if args.subset else "all 60000/10000 examples"),
    ])


def _row(name: str, device: str, r: dict) -> str:
    t = r["epoch_times"]
    memory = f"{r['peak_rss_tree_mb']:.0f} / {r['peak_rss_self_mb']:.0f}" if r["peak_rss_self_mb"] else \
        f"{r['peak_rss_tree_mb']:.0f} / ?"
    if r["gpu_peak_mb"] is not None:
        memory += f" (GPU {r['gpu_peak_mb']:.0f})"
    return (f"| {name} | {device} | {statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f}) | "
            f"{r['data_pass']:.3f} | {memory} | {r['train_loss']:.4f} | {r['train_acc']:.4f} | "
            f"{r['test_acc']:.4f} |")


TABLE_HEAD = ("| pipeline | device | s/epoch, median (min-max) | data pass alone (s) | "
              "peak RSS MB: tree / main | final train loss | train acc | test acc |\n"
              "|---|---|---|---|---|---|---|---|")


def _ratios(device: str, a: dict, b: dict, c: dict, d: dict | None = None) -> list[str]:
    """The per-epoch ratios of one device, what (b)'s batches cost over (c), and (b) against (d)."""
    ta, tb, tc = (statistics.median(r["epoch_times"]) for r in (a, b, c))
    lines = [f"{device}: (a)/(b) seconds per epoch = {ta / tb:.1f}; "
             f"data pass alone (a)/(b) = {a['data_pass'] / b['data_pass']:.0f}",
             f"{device}: (a)/(c) = {ta / tc:.1f}, the most any data path could reach with this model and loop; "
             f"(b) - (c) = {1000 * (tb - tc):.0f} ms per epoch, what making the batches costs inside training"]
    if d is not None:
        fastest = min(b["epoch_times"]) / min(d["epoch_times"])  # the best case: least disturbed by other processes
        lines.append(f"{device}: (b)/(d) = {tb / statistics.median(d['epoch_times']):.2f} (fastest epochs: {fastest:.2f}), "
                     f"the autograd loop against the gradient by hand in NumPy (same starting weights, same batches); "
                     f"test accuracy (b) {b['test_acc']:.4f}, (d) {d['test_acc']:.4f}")
    return lines


def _check(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def _targets(a: dict, b: dict, full: bool) -> list[str]:
    ta, tb = statistics.median(a["epoch_times"]), statistics.median(b["epoch_times"])
    note = "" if full else "  (informative only: the targets are for 10 epochs on all the data, batch 256)"
    gap = abs(a["test_acc"] - b["test_acc"])
    return [
        _check(ta / tb >= TARGET_SPEEDUP, f"(b) is {ta / tb:.1f}x faster per epoch than (a) "
                                          f"(target: at least {TARGET_SPEEDUP:.0f}x){note}"),
        _check(tb <= TARGET_SECONDS, f"(b) takes {tb:.3f} s per epoch with evaluation "
                                     f"(target: at most {TARGET_SECONDS} s){note}"),
        _check(b["test_acc"] >= TARGET_TEST_ACC, f"(b) test accuracy {b['test_acc']:.4f} "
                                                 f"(target: at least {TARGET_TEST_ACC}){note}"),
        _check(gap <= TARGET_ACC_GAP, f"test accuracies of (a) and (b) differ by {100 * gap:.2f} points "
                                      f"(target: at most {100 * TARGET_ACC_GAP:.1f}){note}"),
    ]


def _thread_study(args, job: dict) -> list[str]:
    """Median epoch time of (b) for each thread count, alone and beside a busy-loop process."""
    lines = [f"Thread study: (b) on cpu, {job['epochs']} epochs per cell, s/epoch median (min); "
             "'loaded': beside one busy-loop process (one core busy)",
             "| torch threads | idle | loaded | loaded / idle (medians) |", "|---|---|---|---|"]
    for n in args.threads:
        cells = {}
        for loaded in (False, True):
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
            try:
                r = _run_child(job, {"WORKBOOK_TORCH_THREADS": str(n)})
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()
            cells[loaded] = statistics.median(r["epoch_times"]), min(r["epoch_times"])
        (idle, idle_min), (busy, busy_min) = cells[False], cells[True]
        lines.append(f"| {n} | {idle:.3f} ({idle_min:.3f}) | {busy:.3f} ({busy_min:.3f}) | {busy / idle:.1f}x |")
    return lines


def _thread_list(text: str) -> list[int]:
    if text.strip().lower() in {"", "none"}:
        return []
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of thread counts like 1,2, got {text!r}")
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("thread counts must be at least 1")
    return values


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="training epochs per pipeline")
    p.add_argument("--batch-size", type=int, default=256, help="mini-batch size of both pipelines")
    p.add_argument("--workers", type=int, default=4, help="DataLoader num_workers of (a)")
    p.add_argument("--subset", type=int, default=None, help="use only the first N training and test examples")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CPU rows, plus GPU rows when CUDA is usable")
    p.add_argument("--threads", type=_thread_list, default=[1, 2],
                   help="thread counts for the thread study (comma list; 'none' skips it)")
    p.add_argument("--thread-epochs", type=int, default=5, help="epochs per thread-study cell")
    p.add_argument("--spread-seeds", type=int, default=5,
                   help="also train (b) on cpu from this many seeds in all (0 or 1: none) to show the "
                        "seed-to-seed spread of its test accuracy")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed for weights and shuffling")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one pipeline, print its result
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "thread_epochs") + (("subset",) if args.subset is not None else ()):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.workers < 0 or args.spread_seeds < 0:
        p.error("--workers and --spread-seeds must be at least 0")
    return args


def main(argv=None) -> int:
    args = _parse(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(run_pipeline(json.loads(args.child))), flush=True)
        return 0

    os.environ["FASHION_MNIST_STRICT"] = "1"  # never the stand-in, here and in the subprocesses
    from utils.data import DataError, verify

    try:
        verify()
    except DataError as error:
        print(f"{error}\n\nThe benchmark runs on the real Fashion-MNIST only (strict mode): it refuses "
              f"the offline stand-in, whose numbers would mean nothing. Set FASHION_MNIST_ROOT.",
              file=sys.stderr)
        return 2

    skip = _gpu_skip_reason()
    devices = {"auto": ["cpu"] + ([] if skip else ["cuda"]), "cpu": ["cpu"], "cuda": ["cuda"]}[args.device]
    if args.device == "cuda" and skip:
        print(f"--device cuda: {skip}.", file=sys.stderr)
        return 2
    print(_header(args), flush=True)
    base = {"epochs": args.epochs, "batch_size": args.batch_size, "workers": args.workers,
            "subset": args.subset, "lr": args.lr, "seed": args.seed}
    results = {}
    for device in devices:
        for pipeline in PIPELINES:
            if pipeline not in DATA_PATHS and device != "cpu":
                continue
            print(f"running {PIPELINES[pipeline]} on {device} ({_load()}) ...", flush=True)
            job = {**base, "pipeline": pipeline, "device": device}
            if (pipeline, device) == ("workbook", "cpu"):
                job["other_seeds"] = list(range(args.seed + 1, args.seed + args.spread_seeds))
            results[pipeline, device] = _run_child(job)

    print("\n" + TABLE_HEAD)
    for (pipeline, device), r in results.items():
        print(_row(PIPELINES[pipeline], device, r))
    print("peak RSS: 'tree' sums the subprocess and its DataLoader workers (sampled every 20 ms; "
          "shared pages counted once per process), 'main' is the subprocess's own exact high-water mark.")
    for device in devices:
        print("\n".join(_ratios(device, *(results[pipeline, device] for pipeline in DATA_PATHS),
                                results.get(("numpy", device)))))
    if skip:
        print(f"GPU rows skipped: {skip}.")

    if "cpu" in devices:
        full = {"epochs": args.epochs, "batch_size": args.batch_size, "subset": args.subset} == FULL_SETTINGS
        print("\nTargets (cpu):")
        print("\n".join(_targets(results["standard", "cpu"], results["workbook", "cpu"], full)))
        spread = {args.seed: results["workbook", "cpu"]["test_acc"], **results["workbook", "cpu"]["other_seeds"]}
        if len(spread) > 1:
            low, high = min(spread.values()), max(spread.values())
            print(f"(b)'s final test accuracy from seeds {min(map(int, spread))}-{max(map(int, spread))}: "
                  f"{low:.4f} to {high:.4f} (a spread of {100 * (high - low):.2f} points from the seed alone)")
        if args.threads:
            print(f"\nrunning the thread study ({_load()}) ...", flush=True)
            job = {**base, "epochs": min(args.thread_epochs, args.epochs), "pipeline": "workbook", "device": "cpu"}
            print("\n".join(_thread_study(args, job)))
    print(f"\nDone ({_load()}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
