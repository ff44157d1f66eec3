"""Runs one of the reference timing drivers (../shared/reference-bench/bench_*.py) with a
stand-in for torchvision when it is not installed.

pytorch-CycleGAN-and-pix2pix imports torchvision.transforms only to build its dataset
transforms (and reads transforms.InterpolationMode for default arguments); the drivers
feed synthetic tensors and never build a dataset, so an enum is all it needs. With a real
torchvision installed, that one is used. It also records each timed call's CPU time
(`cpu_s` beside `times_s` in the JSON) so that bench/train.ts can show whether the run
had its cores to itself.

Modules only the references' data loading imports (tqdm, h5py, torchvision.datasets) get
inert stand-ins when missing.

With BENCH_PROFILE=PREFIX set, each timed function is then run once more under
torch.profiler (see profiled_time_fn below), for bench/train.ts --profile.

Usage: /usr/bin/python3 bench/ref_driver.py DRIVER.py [driver args...]
"""
import enum
import os
import runpy
import sys
import time
import types

try:
    import torchvision  # noqa: F401
except ImportError:
    class InterpolationMode(enum.Enum):
        NEAREST = 'nearest'
        BILINEAR = 'bilinear'
        BICUBIC = 'bicubic'
        LANCZOS = 'lanczos'

    tv = types.ModuleType('torchvision')
    tv.transforms = types.ModuleType('torchvision.transforms')
    tv.transforms.InterpolationMode = InterpolationMode
    sys.modules['torchvision'] = tv
    sys.modules['torchvision.transforms'] = tv.transforms



class _Inert(types.ModuleType):
    """A module whose every attribute is a do-nothing class: for imports a driver's code
    path never uses (BigGAN-PyTorch's utils.py imports its datasets.py, and with it tqdm,
    h5py and torchvision.datasets, for data loaders the timing never builds)."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return type(name, (), {'__init__': lambda self, *a, **k: None})


for _name in ['tqdm', 'h5py', 'torchvision.datasets', 'torchvision.datasets.utils', 'torchvision.utils']:
    try:
        __import__(_name)
    except ImportError:
        sys.modules[_name] = _Inert(_name)
        parent, _, child = _name.rpartition('.')
        if parent in sys.modules:
            setattr(sys.modules[parent], child, sys.modules[_name])

driver = os.path.abspath(sys.argv[1])
sys.argv = sys.argv[1:]

# Record the process CPU time of each timed call beside its wall time (as `cpu_s`), so
# the caller can tell a run that had both cores from one that shared them with other
# work. The driver's own timing is left as it is.
sys.path.insert(0, os.path.dirname(driver))
import bench_common  # noqa: E402

_time_fn = bench_common.time_fn


def time_fn(fn, *args, **kwargs):
    cpu = []

    def timed():
        c0 = time.process_time()
        fn()
        cpu.append(time.process_time() - c0)

    out = _time_fn(timed, *args, **kwargs)
    out['cpu_s'] = [round(c, 4) for c in cpu[-out['n']:]]
    return out


# BENCH_PROFILE=PREFIX: after each timed function, one more call of it under torch.profiler,
# written as PREFIX-K.json (a Chrome trace) and PREFIX-K.txt (the top ops by self time),
# K counting the driver's timed functions from 0 in the order it times them.
_profile_prefix = os.environ.get('BENCH_PROFILE')
_profiled = [0]


def _profile_once(fn):
    import contextlib
    from torch.profiler import ProfilerActivity, profile
    with contextlib.redirect_stdout(sys.stderr), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    k = _profiled[0]
    _profiled[0] += 1
    prof.export_chrome_trace('%s-%d.json' % (_profile_prefix, k))
    with open('%s-%d.txt' % (_profile_prefix, k), 'w') as f:
        f.write(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=30))


def profiled_time_fn(fn, *args, **kwargs):
    out = time_fn(fn, *args, **kwargs)
    _profile_once(fn)
    return out


bench_common.time_fn = profiled_time_fn if _profile_prefix else time_fn
runpy.run_path(driver, run_name='__main__')
