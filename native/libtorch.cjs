// Tells binding.gyp where libtorch lives: $LIBTORCH (the official archive, CPU or CUDA)
// when set, else the system install (Debian's libtorch-dev); and which c10d backends the
// addon can bind (`defines`):
//   - Gloo needs the gloo headers, which libtorch's own headers include but neither
//     Debian's libtorch-dev nor every archive ships: Debian's are in libgloo-dev (matching
//     its libgloo0; scripts/bootstrap.sh installs it); an archive is used with the gloo
//     headers it carries (include/gloo), never the system's (another gloo version would
//     not match the archive's compiled ProcessGroupGloo). Without them the addon builds
//     with no process group, and distributed training says why.
//   - oneDNN's own API (conv_winograd.cc: Winograd 3×3 convolutions) with Debian's
//     libtorch, which runs on the system's libdnnl; its headers are libdnnl-dev's
//     (scripts/bootstrap.sh installs it). An archive carries its oneDNN inside libtorch,
//     without headers: there the convolutions stay libtorch's.
//   - NCCL only with a CUDA archive and nccl.h (the archive's include/, $CUDA_HOME or
//     /usr/include).
'use strict';
const fs = require('fs');
const path = require('path');

const root = process.env.LIBTORCH;
const what = process.argv[2];

function fail(msg) {
  process.stderr.write(`ganforge: ${msg}\n`);
  process.exit(1);
}

if (root) {
  if (!fs.existsSync(path.join(root, 'include', 'ATen', 'ATen.h'))) {
    fail(`LIBTORCH=${root} does not look like a libtorch archive (no include/ATen/ATen.h)`);
  }
  const lib = path.join(root, 'lib');
  const cuda = fs.existsSync(path.join(lib, 'libtorch_cuda.so'));
  const out = {
    include: [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')],
    libs: [`-L${lib}`, `-Wl,-rpath,${lib}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10',
      ...(cuda ? ['-ltorch_cuda', '-lc10_cuda'] : []), '-Wl,--as-needed'],
  };
  const gloo = fs.existsSync(path.join(root, 'include', 'gloo', 'config.h'));
  const ncclHeader = [path.join(root, 'include'), process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, 'include'), '/usr/include']
    .filter(Boolean).find((d) => fs.existsSync(path.join(d, 'nccl.h')));
  out.defines = gloo ? ['GF_C10D', 'USE_C10D_GLOO', ...(cuda && ncclHeader ? ['USE_C10D_NCCL'] : [])] : [];
  if (gloo && cuda && ncclHeader && ncclHeader !== '/usr/include') out.include.push(ncclHeader);
  process.stdout.write(out[what].join(' '));
} else {
  const sys = ['/usr/include', '/usr/include/torch/csrc/api/include'];
  if (!fs.existsSync('/usr/include/ATen/ATen.h')) {
    fail('libtorch not found: install it (apt-get install libtorch-dev) or set LIBTORCH to an unpacked libtorch archive');
  }
  const gloo = fs.existsSync('/usr/include/gloo/config.h');
  const dnnl = fs.existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
  const out = {
    include: [sys[1]],
    libs: ['-ltorch', '-ltorch_cpu', '-lc10', ...(dnnl ? ['-ldnnl'] : [])],
    defines: [...(gloo ? ['GF_C10D', 'USE_C10D_GLOO'] : []), ...(dnnl ? ['GF_ONEDNN'] : [])],
  };
  process.stdout.write(out[what].join(' '));
}
