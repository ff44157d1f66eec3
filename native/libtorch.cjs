// Tells binding.gyp where libtorch lives: $LIBTORCH (the official archive, CPU or CUDA)
// when set, else the system install (Debian's libtorch-dev).
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
  process.stdout.write(out[what].join(' '));
} else {
  const sys = ['/usr/include', '/usr/include/torch/csrc/api/include'];
  if (!fs.existsSync('/usr/include/ATen/ATen.h')) {
    fail('libtorch not found: install it (apt-get install libtorch-dev) or set LIBTORCH to an unpacked libtorch archive');
  }
  const out = { include: [sys[1]], libs: ['-ltorch', '-ltorch_cpu', '-lc10'] };
  process.stdout.write(out[what].join(' '));
}
