// Measuring what a GAN makes: FID, KID, IS and precision/recall on feature vectors.
export { FeatureStats, meanCov, type MeanCov } from './feature_stats.js';
export { frechetDistance } from './frechet.js';
export { kernelInceptionDistance, type KidOptions } from './kernel_distance.js';
export { inceptionScore } from './inception_score.js';
export { precisionRecall, type PrOptions } from './precision_recall.js';
export { parseMetric, parseMetricList, type MetricSpec, type MetricKind } from './names.js';
