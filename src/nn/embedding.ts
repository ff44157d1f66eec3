import { Tensor, F, empty } from '../torch/index.js';
import { Module } from './module.js';
import { normal_ } from './init.js';

/** A lookup table of `numEmbeddings` vectors of size `embeddingDim`, drawn N(0, 1) as PyTorch. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    this.weight = this.registerParameter('weight', empty([numEmbeddings, embeddingDim]));
    normal_(this.weight);
  }

  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
}
