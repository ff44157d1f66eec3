// pix2pix/CycleGAN's weight initialisation: every convolution and linear weight from one
// chosen distribution with zero bias, batch-norm scales near one. The networks are
// initialised this way rather than with PyTorch's per-layer defaults, and the paper's
// results assume N(0, 0.02).
import { noGrad } from '../torch/index.js';
import * as nn from '../nn/index.js';

export const INIT_TYPES = ['normal', 'xavier', 'kaiming', 'orthogonal'] as const;
export type InitType = (typeof INIT_TYPES)[number];

/**
 * Re-initialises `net` in place and returns it. `gain` is the standard deviation for
 * 'normal' and the scale for 'xavier' and 'orthogonal'; 'kaiming' ignores it (He init for
 * ReLU, fan in). Modules are visited children first, as torch's Module.apply, so a seeded
 * run draws in the same order as the reference.
 */
export function initWeights<M extends nn.Module>(net: M, initType: InitType = 'normal', gain = 0.02): M {
  if (!(INIT_TYPES as readonly string[]).includes(initType)) {
    throw new Error(`unknown initialisation '${String(initType)}': expected one of ${INIT_TYPES.join(', ')}`);
  }
  noGrad(() => {
    net.apply((m) => {
      if (m instanceof nn.Conv2d || m instanceof nn.ConvTranspose2d || m instanceof nn.Linear) {
        switch (initType) {
          case 'normal': nn.init.normal_(m.weight, 0, gain); break;
          case 'xavier': nn.init.xavierNormal_(m.weight, gain); break;
          case 'kaiming': nn.init.kaimingNormal_(m.weight, { a: 0, mode: 'fan_in' }); break;
          case 'orthogonal': nn.init.orthogonal_(m.weight, gain); break;
        }
        if (m.bias) nn.init.zeros_(m.bias);
      } else if (m instanceof nn.BatchNorm2d && m.weight && m.bias) {
        // A scale is a vector, not a matrix: only the normal draw makes sense for it.
        nn.init.normal_(m.weight, 1, gain);
        nn.init.zeros_(m.bias);
      }
    });
  });
  return net;
}
