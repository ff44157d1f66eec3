// The data layer: datasets, preprocessing, the prepared cache, the loader, and images in
// and out. Files imported by the loader's worker threads never import the engine; only
// tensor.ts and grid.ts do.
export { DataError, checkResolution, isPowerOfTwo } from './errors.js';
export { Rng, mixSeed } from './rng.js';
export {
  type RawImage, type Channels, type ResizeKernel, type ImageFormat, IMAGE_EXTENSIONS, ImageDecodeError, isImageFile, decodeImage, encodeImage, writeImage,
  resizeImage, cropImage, flipImage, toGrayscale, toRgb, toChannels,
} from './image.js';
export {
  type PreprocessMode, type PreprocessOptions, type TransformParams, PREPROCESS_MODES, DEFAULT_PREPROCESS, getParams, applyTransform,
  randomTransform, outputSize, preCropSize, fixedOutputSize, checkPreprocess,
} from './preprocess.js';
export { type ImageList, type LabeledImages, listImages, listLabeledImages, requireImages } from './scan.js';
export { type Direction } from './direction.js';
export type { Sample, Sampler } from './sampler.js';
export type { FolderSpec } from './folder.js';
export type { AlignedSpec } from './aligned.js';
export type { UnalignedSpec } from './unaligned.js';
export type { SingleSpec } from './single.js';
export {
  type BuiltinSet, type ProceduralSpec, type Scene, type Shape, BUILTIN_SETS, SHAPE_CLASSES, isBuiltinSet, makeScene, renderFilled, renderOutline,
} from './procedural.js';
export {
  type CacheIndex, type CacheSpec, type LoadedCache, type PrepareOptions, type PrepareSummary, prepareCache, readCacheIndex, loadCache, isCacheFile,
} from './cache.js';
export { type DatasetSpec, type DatasetKind, type DatasetMode, type DatasetOptions, DATASET_MODES, Dataset, openDataset } from './dataset.js';
export { type Batch, collate } from './batch.js';
export { type LoaderOptions, type LoaderState, Loader, defaultWorkers } from './loader.js';
export { type ToTensorOptions, type TensorBatch, type ImageBytes, imagesToTensor, toTensorBatch, tensorToImages } from './tensor.js';
export { type GridOptions, makeGrid, gridFromBytes, saveGrid, saveImage, saveImages } from './grid.js';
export { type DatasetInfo, type FolderStats, inspectDataset, folderStats, formatInfo } from './info.js';
