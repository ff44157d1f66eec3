// Modules with torch.nn's names and state-dict keys.
export { Module, StateDictError, type StateDict, type LoadResult } from './module.js';
export { Linear } from './linear.js';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './conv.js';
export { BatchNorm2d, InstanceNorm2d, type NormOptions, type ReplicaSum } from './norm.js';
export { Embedding } from './embedding.js';
export { Sequential, ModuleList, type UnaryModule } from './container.js';
export {
  Identity, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, Flatten, ReflectionPad2d, ReplicationPad2d, ZeroPad2d, Upsample, AvgPool2d,
} from './layers.js';
export * as init from './init.js';
export { EqualizedLinear, EqualizedConv2d, type EqualizedOptions, type Resample } from './equalized.js';
export { pixelNorm, PixelNorm } from './pixel_norm.js';
export { minibatchStddev, MinibatchStddev } from './minibatch_stddev.js';
export { upscale2d, downscale2d, blur2d, blurKernel, Blur2d } from './resample.js';
export { upfirdn2d, upsample2d, downsample2d, setupFilter, parsePadding, type UpFirDnOptions, type PaddingArg } from './upfirdn2d.js';
export { biasAct, commutesWithGain, ACTIVATIONS, type Activation, type BiasActOptions } from './bias_act.js';
export { conv2dResample, type Conv2dResampleOptions } from './conv2d_resample.js';
export { preferChannelsLast, convInput } from './memory_format.js';
export { modulatedConv2d, type ModulatedConv2dOptions } from './modulated_conv2d.js';
export { FullyConnectedLayer, Conv2dLayer, type FullyConnectedOptions, type Conv2dLayerOptions } from './stylegan2_layers.js';
export { SpectralNorm, SNConv2d, SNLinear, SNEmbedding, type SNOptions } from './spectral_norm.js';
export { CCBN, BN, MyBN, type BigGANNormOptions, type ConditionalLinear } from './ccbn.js';
export { Attention, type Conv1x1 } from './attention.js';
export { upsampleConv3x3, conv3x3AvgPool, upsamplePhaseKernels, pooledKernel } from './resample_conv.js';
export { isStandingNorm, type StandingNorm } from './standing.js';
