// `--direction` as in the reference: AtoB trains A -> B, BtoA swaps the roles. We swap
// inside the dataset, so `a` is always the model's input (input_nc channels) and `b`
// its target (output_nc channels), and no recipe has to remember the option.

import { DataError } from './errors.js';
import type { Channels } from './image.js';

export type Direction = 'AtoB' | 'BtoA';

export function checkDirection(d: string): Direction {
  if (d !== 'AtoB' && d !== 'BtoA') throw new DataError(`--direction ${d} is not known: expected AtoB or BtoA`);
  return d;
}

/** Channels to decode the stored A and B sides with, so that after the swap a has inputNc. */
export function sideChannels(direction: Direction, inputNc: Channels, outputNc: Channels): { A: Channels; B: Channels } {
  return direction === 'AtoB' ? { A: inputNc, B: outputNc } : { A: outputNc, B: inputNc };
}

export function orient<T>(direction: Direction, A: T, B: T): [T, T] {
  return direction === 'AtoB' ? [A, B] : [B, A];
}
