// Measuring what a GAN makes: FID, KID, IS and precision/recall on feature vectors.
export { FeatureStats, meanCov, type MeanCov } from './feature_stats.js';
export { frechetDistance } from './frechet.js';
export { kernelInceptionDistance, type KidOptions } from './kernel_distance.js';
export { inceptionScore } from './inception_score.js';
export { precisionRecall, type PrOptions } from './precision_recall.js';
export { parseMetric, parseMetricList, type MetricSpec, type MetricKind } from './names.js';
export { Detector, type Detectors, openDetectors, toUint8 } from './detector.js';
export { INCEPTION, VGG16, type KnownNetwork, DownloadError, cacheDir, download, networkFile, sha256File } from './network_file.js';
export { type Side, ImageReader, datasetImages, datasetFingerprint, rawToTensor } from './images.js';
export { type RealSource, type GeneratedSource, type EvaluateOptions, type EvaluateProgress, evaluateMetrics } from './evaluate.js';
