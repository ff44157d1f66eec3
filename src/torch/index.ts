// ganforge's tensor engine: the TypeScript face of libtorch.
export { Tensor, type Scalar, type TensorOrScalar, type Shape, type ToOptions, type VarOptions, type NestedArray } from './tensor.js';
export { type DType, type Device, type TypedArray, DTYPES, isDType, isFloating, itemSize } from './dtype.js';
export {
  tensor, fromTypedArray, fromBytes, zeros, ones, empty, full, randn, rand, randint, randperm, arange, linspace, eye,
  zerosLike, onesLike, fullLike, randnLike, randLike, cat, stack, where, multinomial, bernoulli, type TensorOptions,
} from './creation.js';
export { scope, scopeDepth } from './scope.js';
export { grad, noGrad, enableGrad, isGradEnabled, type GradOptions } from './autograd.js';
export { autocast, autocastState, type AutocastType, type AutocastOptions } from './autocast.js';
export { manualSeed, getRngState, setRngState, withSeed } from './random.js';
export { liveTensors, setNumThreads, getNumThreads, buildInfo, cuda, tuneMalloc, type BuildInfo } from './runtime.js';
export * as F from './functional.js';
export * as linalg from './linalg.js';
export { ScriptModule, type ScriptArgument, type ScriptValue } from './jit.js';
export * as optim from './optim/index.js';
export { ProcessGroup, c10dBackends, requireC10d, type ProcessGroupOptions, type ReduceOp } from './c10d.js';
export * as profiler from './profiler.js';
export { countFlops, type FlopCount, type FlopKinds } from './flops.js';
