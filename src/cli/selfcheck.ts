// `ganforge selfcheck`: proves the engine works on this machine in a few seconds —
// what libtorch we run on, and a tiny convolutional model learning a fixed target.
import { VERSION } from '../version.js';
import * as torch from '../torch/index.js';
import { nn } from '../index.js';

export function selfcheck(log: (s: string) => void = (s) => process.stdout.write(s + '\n')): boolean {
  const info = torch.buildInfo();
  log(`ganforge ${VERSION} on libtorch ${info.torchVersion}`);
  log(`threads: ${torch.getNumThreads()}   CUDA: ${info.cuda ? `${info.cudaDevices} device(s)` : 'no'}   oneDNN: ${info.mkldnn ? 'yes' : 'no'}`);

  torch.manualSeed(0);
  const net = new nn.Sequential(
    new nn.Conv2d(3, 16, 3, { padding: 1 }), new nn.LeakyReLU(0.2),
    new nn.Conv2d(16, 3, 3, { padding: 1 }), new nn.Tanh(),
  );
  const opt = new torch.optim.Adam(net.parameters(), { lr: 1e-2 });
  const x = torch.randn([8, 3, 16, 16]).keep();
  // A target the model can represent: a fixed random 3×3 filter bank, squashed.
  const target = torch.scope(() => torch.F.conv2d(x, torch.randn([3, 3, 3, 3]).mul(0.3), null, { padding: 1 }).tanh()).keep();
  const live = torch.liveTensors();
  const losses: number[] = [];
  const t0 = performance.now();
  for (let step = 0; step < 100; step++) {
    losses.push(torch.scope(() => {
      opt.zeroGrad();
      const loss = torch.F.mseLoss(net.forward(x), target);
      loss.backward();
      opt.step();
      return loss.item();
    }));
  }
  const ms = (performance.now() - t0) / losses.length;
  const leaked = torch.liveTensors() - live;
  const first = losses[0], last = losses[losses.length - 1];
  log(`tiny training: loss ${first.toFixed(4)} -> ${last.toFixed(4)} in ${losses.length} Adam steps (${ms.toFixed(1)} ms/step), tensors leaked: ${leaked}`);
  net.dispose();
  opt.dispose();
  x.dispose();
  target.dispose();
  const ok = last < first * 0.5 && leaked === 0;
  log(ok ? 'engine OK' : 'engine check FAILED');
  return ok;
}
