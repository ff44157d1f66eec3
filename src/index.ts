// ganforge: GAN training and sampling for TypeScript, on libtorch.
export * as torch from './torch/index.js';
export * from './torch/index.js';
export { VERSION } from './version.js';
export * as nn from './nn/index.js';
export * as io from './io/index.js';
