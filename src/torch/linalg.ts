// Linear algebra the metrics and initialisers need.
import { N } from './native.js';
import { Tensor, wrap } from './tensor.js';
import { scope } from './scope.js';

/** Eigen-decomposition of a symmetric matrix: eigenvalues ascending, eigenvectors as columns. */
export function eigh(a: Tensor): [Tensor, Tensor] {
  const [l, v] = N.eigh(a.handle);
  return [wrap(l), wrap(v)];
}

/** Reduced QR decomposition. */
export function qr(a: Tensor): [Tensor, Tensor] {
  const [q, r] = N.qr(a.handle);
  return [wrap(q), wrap(r)];
}

/** Thin SVD: [U, S, Vh]. */
export function svd(a: Tensor): [Tensor, Tensor, Tensor] {
  const [u, s, vh] = N.svd(a.handle);
  return [wrap(u), wrap(s), wrap(vh)];
}

export function inv(a: Tensor): Tensor {
  return wrap(N.inv(a.handle));
}

/**
 * The principal square root of a symmetric positive semi-definite matrix, computed in
 * float64 through its eigen-decomposition; tiny negative eigenvalues from round-off are
 * clamped to zero. (FID's trace term is built from this.)
 */
export function sqrtmPsd(a: Tensor): Tensor {
  return scope(() => {
    const a64 = a.to('float64');
    const sym = a64.add(a64.t()).mul(0.5);
    const [l, v] = eigh(sym);
    const root = l.clamp(0).sqrt();
    return v.mul(root.unsqueeze(0)).matmul(v.t());
  });
}
