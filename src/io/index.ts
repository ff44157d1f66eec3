// Formats: safetensors (ours to write), PyTorch .pth (read only, never executed).
export { type RawTensor, halfToFloat, floatToHalf, bfloat16ToFloat, floatToBFloat16 } from './raw.js';
export { encodeSafetensors, decodeSafetensors, readSafetensorsFile, readSafetensorsFileSync, writeSafetensorsFile, writeSafetensorsFileSync } from './safetensors.js';
export { readPth, readPthFile, readPthFileSync, flattenStateDict, stateDictFrom, type PthValue, type PthReadOptions } from './pth.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { rawToTensor, tensorToRaw, toTensors, saveSafetensors, loadSafetensors, loadPthStateDict, loadWeights } from './tensors.js';
export { type CheckpointData, EMA_NETWORK, checkpointName, saveCheckpoint, pruneCheckpoints, listCheckpoints, loadCheckpoint, removePartialCheckpoints } from './checkpoint.js';
export { readNetworkPickle, readNetworkPickleFile, type NetworkPickle, type PickledNetwork, type JsonValue } from './nvidia_pickle.js';
export { decodeNpy, readNpyFileSync } from './npy.js';
