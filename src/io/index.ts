// Formats: safetensors (ours to write), PyTorch .pth (read only, never executed).
export { type RawTensor, halfToFloat, floatToHalf, bfloat16ToFloat, floatToBFloat16 } from './raw.js';
export { encodeSafetensors, decodeSafetensors, readSafetensorsFile, readSafetensorsFileSync, writeSafetensorsFile, writeSafetensorsFileSync } from './safetensors.js';
export { readPth, readPthFile, readPthFileSync, flattenStateDict, stateDictFrom, type PthValue, type PthReadOptions } from './pth.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { rawToTensor, tensorToRaw, saveSafetensors, loadSafetensors, loadPthStateDict, loadWeights } from './tensors.js';
export { type CheckpointData, EMA_NETWORK, checkpointName, saveCheckpoint, listCheckpoints, loadCheckpoint, removePartialCheckpoints } from './checkpoint.js';
