// Elementwise math, reductions, linear algebra and shape ops: thin one-to-one bindings.
#include "common.h"

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()
#define UNARY(name, expr)                      \
  static Napi::Value name(INFO) {              \
    auto& x = T(info[0]);                      \
    return Wrap(ENV, expr);                    \
  }
// Binary ops take a tensor or a JS number as the second operand.
#define BINARY(name, fn)                                              \
  static Napi::Value name(INFO) {                                     \
    auto& a = T(info[0]);                                             \
    if (info[1].IsExternal()) return Wrap(ENV, fn(a, T(info[1])));    \
    return Wrap(ENV, fn(a, Scl(info[1])));                            \
  }

// ---- arithmetic ----
static Napi::Value add(INFO) {
  auto& a = T(info[0]);
  auto alpha = Given(info[2]) ? Scl(info[2]) : at::Scalar(1);
  if (info[1].IsExternal()) return Wrap(ENV, at::add(a, T(info[1]), alpha));
  return Wrap(ENV, at::add(a, Scl(info[1]), alpha));
}
static Napi::Value sub(INFO) {
  auto& a = T(info[0]);
  auto alpha = Given(info[2]) ? Scl(info[2]) : at::Scalar(1);
  if (info[1].IsExternal()) return Wrap(ENV, at::sub(a, T(info[1]), alpha));
  return Wrap(ENV, at::sub(a, Scl(info[1]), alpha));
}
// scalar - tensor and scalar / tensor
static Napi::Value rsub(INFO) { return Wrap(ENV, at::rsub(T(info[0]), Scl(info[1]))); }
static Napi::Value rdiv(INFO) { return Wrap(ENV, at::reciprocal(T(info[0])).mul(Scl(info[1]))); }
BINARY(mul, at::mul)
BINARY(div, at::div)
BINARY(pow, at::pow)
BINARY(remainder, at::remainder)
BINARY(eq, at::eq)
BINARY(ne, at::ne)
BINARY(lt, at::lt)
BINARY(le, at::le)
BINARY(gt, at::gt)
BINARY(ge, at::ge)
static Napi::Value maximum(INFO) { return Wrap(ENV, at::maximum(T(info[0]), T(info[1]))); }
static Napi::Value minimum(INFO) { return Wrap(ENV, at::minimum(T(info[0]), T(info[1]))); }
static Napi::Value logicalAnd(INFO) { return Wrap(ENV, at::logical_and(T(info[0]), T(info[1]))); }
static Napi::Value logicalOr(INFO) { return Wrap(ENV, at::logical_or(T(info[0]), T(info[1]))); }
// (base scalar, exponent tensor)
static Napi::Value rpow(INFO) { return Wrap(ENV, at::pow(Scl(info[1]), T(info[0]))); }

UNARY(neg, at::neg(x))
UNARY(abs, at::abs(x))
UNARY(sign, at::sign(x))
UNARY(sqrt, at::sqrt(x))
UNARY(rsqrt, at::rsqrt(x))
UNARY(square, at::square(x))
UNARY(exp, at::exp(x))
UNARY(log, at::log(x))
UNARY(log1p, at::log1p(x))
UNARY(sin, at::sin(x))
UNARY(cos, at::cos(x))
UNARY(floor, at::floor(x))
UNARY(ceil, at::ceil(x))
UNARY(round, at::round(x))
UNARY(reciprocal, at::reciprocal(x))
UNARY(erf, at::erf(x))
UNARY(logicalNot, at::logical_not(x))
UNARY(isfinite, at::isfinite(x))
UNARY(isnan, at::isnan(x))

// (x, min?, max?) — each bound a number, a tensor, or null
static Napi::Value clamp(INFO) {
  auto& x = T(info[0]);
  if (info[1].IsExternal() || info[2].IsExternal()) {
    return Wrap(ENV, at::clamp(x, OptT(info[1]), OptT(info[2])));
  }
  c10::optional<at::Scalar> lo, hi;
  if (Given(info[1])) lo = Scl(info[1]);
  if (Given(info[2])) hi = Scl(info[2]);
  return Wrap(ENV, at::clamp(x, lo, hi));
}
// (a, b, weight tensor|number)
static Napi::Value lerp(INFO) {
  auto& a = T(info[0]);
  auto& b = T(info[1]);
  if (info[2].IsExternal()) return Wrap(ENV, at::lerp(a, b, T(info[2])));
  return Wrap(ENV, at::lerp(a, b, Scl(info[2])));
}
// (cond, a, b) — a and b tensors or numbers
static Napi::Value where(INFO) {
  auto& c = T(info[0]);
  bool ta = info[1].IsExternal(), tb = info[2].IsExternal();
  if (ta && tb) return Wrap(ENV, at::where(c, T(info[1]), T(info[2])));
  if (ta) return Wrap(ENV, at::where(c, T(info[1]), Scl(info[2])));
  if (tb) return Wrap(ENV, at::where(c, Scl(info[1]), T(info[2])));
  return Wrap(ENV, at::where(c, Scl(info[1]), Scl(info[2])));
}
static Napi::Value allclose(INFO) {
  return Napi::Boolean::New(ENV, at::allclose(T(info[0]), T(info[1]), Num(info[2]), Num(info[3])));
}
static Napi::Value equal(INFO) { return Napi::Boolean::New(ENV, at::equal(T(info[0]), T(info[1]))); }

// ---- reductions: (x, dims|null, keepdim) ----
static at::OptionalIntArrayRef OptDims(const c10::optional<std::vector<int64_t>>& d) {
  if (!d) return c10::nullopt;
  return at::IntArrayRef(*d);
}
static Napi::Value sum(INFO) {
  auto& x = T(info[0]);
  auto dims = OptInts(info[1]);
  if (!dims) return Wrap(ENV, at::sum(x));
  return Wrap(ENV, at::sum(x, *dims, Bool(info[2])));
}
static Napi::Value mean(INFO) {
  auto& x = T(info[0]);
  auto dims = OptInts(info[1]);
  if (!dims) return Wrap(ENV, at::mean(x));
  return Wrap(ENV, at::mean(x, *dims, Bool(info[2])));
}
// (x, dims|null, correction, keepdim)
static Napi::Value var(INFO) {
  auto dims = OptInts(info[1]);
  return Wrap(ENV, at::var(T(info[0]), OptDims(dims), at::optional<int64_t>(Int(info[2])), Bool(info[3])));
}
static Napi::Value std_(INFO) {
  auto dims = OptInts(info[1]);
  return Wrap(ENV, at::std(T(info[0]), OptDims(dims), at::optional<int64_t>(Int(info[2])), Bool(info[3])));
}
static Napi::Value amax(INFO) {
  auto dims = OptInts(info[1]);
  return Wrap(ENV, at::amax(T(info[0]), dims ? at::IntArrayRef(*dims) : at::IntArrayRef{}, Bool(info[2])));
}
static Napi::Value amin(INFO) {
  auto dims = OptInts(info[1]);
  return Wrap(ENV, at::amin(T(info[0]), dims ? at::IntArrayRef(*dims) : at::IntArrayRef{}, Bool(info[2])));
}
// (x, dim, keepdim) -> [values, indices]
static Napi::Value maxDim(INFO) {
  auto r = at::max(T(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
static Napi::Value minDim(INFO) {
  auto r = at::min(T(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
// (x, dim|null, keepdim)
static Napi::Value argmax(INFO) {
  c10::optional<int64_t> d;
  if (Given(info[1])) d = Int(info[1]);
  return Wrap(ENV, at::argmax(T(info[0]), d, Bool(info[2])));
}
static Napi::Value argmin(INFO) {
  c10::optional<int64_t> d;
  if (Given(info[1])) d = Int(info[1]);
  return Wrap(ENV, at::argmin(T(info[0]), d, Bool(info[2])));
}
// (x, p, dims|null, keepdim)
static Napi::Value norm(INFO) {
  auto& x = T(info[0]);
  auto p = Scl(info[1]);
  auto dims = OptInts(info[2]);
  if (!dims) return Wrap(ENV, at::norm(x, p));
  return Wrap(ENV, at::norm(x, p, *dims, Bool(info[3])));
}
static Napi::Value logsumexp(INFO) { return Wrap(ENV, at::logsumexp(T(info[0]), Ints(info[1]), Bool(info[2]))); }
static Napi::Value cumsum(INFO) { return Wrap(ENV, at::cumsum(T(info[0]), Int(info[1]))); }
static Napi::Value prod(INFO) { return Wrap(ENV, at::prod(T(info[0]))); }
static Napi::Value all(INFO) { return Wrap(ENV, at::all(T(info[0]))); }
static Napi::Value any(INFO) { return Wrap(ENV, at::any(T(info[0]))); }

// ---- linear algebra ----
static Napi::Value matmul(INFO) { return Wrap(ENV, at::matmul(T(info[0]), T(info[1]))); }
static Napi::Value mm(INFO) { return Wrap(ENV, at::mm(T(info[0]), T(info[1]))); }
static Napi::Value bmm(INFO) { return Wrap(ENV, at::bmm(T(info[0]), T(info[1]))); }
// (bias, a, b, beta, alpha)
static Napi::Value addmm(INFO) {
  return Wrap(ENV, at::addmm(T(info[0]), T(info[1]), T(info[2]), Scl(info[3]), Scl(info[4])));
}
static Napi::Value outer(INFO) { return Wrap(ENV, at::outer(T(info[0]), T(info[1]))); }
static Napi::Value diag(INFO) { return Wrap(ENV, at::diag(T(info[0]), Given(info[1]) ? Int(info[1]) : 0)); }
static Napi::Value trace(INFO) { return Wrap(ENV, at::trace(T(info[0]))); }
static Napi::Value triu(INFO) { return Wrap(ENV, at::triu(T(info[0]), Given(info[1]) ? Int(info[1]) : 0)); }
static Napi::Value tril(INFO) { return Wrap(ENV, at::tril(T(info[0]), Given(info[1]) ? Int(info[1]) : 0)); }
// symmetric eigendecomposition -> [eigenvalues ascending, eigenvectors as columns]
static Napi::Value eigh(INFO) {
  auto r = at::linalg_eigh(T(info[0]), "L");
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
static Napi::Value qr(INFO) {
  auto r = at::linalg_qr(T(info[0]), "reduced");
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
static Napi::Value svd(INFO) {
  auto r = at::linalg_svd(T(info[0]), /*full_matrices=*/false);
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r), std::get<2>(r)});
}
static Napi::Value inv(INFO) { return Wrap(ENV, at::linalg_inv(T(info[0]))); }

// ---- shape ----
static Napi::Value reshape(INFO) { return Wrap(ENV, at::reshape(T(info[0]), Ints(info[1]))); }
static Napi::Value view(INFO) { return Wrap(ENV, T(info[0]).view(Ints(info[1]))); }
static Napi::Value permute(INFO) { return Wrap(ENV, T(info[0]).permute(Ints(info[1]))); }
static Napi::Value transpose(INFO) { return Wrap(ENV, at::transpose(T(info[0]), Int(info[1]), Int(info[2]))); }
static Napi::Value flatten(INFO) { return Wrap(ENV, at::flatten(T(info[0]), Int(info[1]), Int(info[2]))); }
static Napi::Value squeeze(INFO) {
  if (!Given(info[1])) return Wrap(ENV, at::squeeze(T(info[0])));
  return Wrap(ENV, at::squeeze(T(info[0]), Int(info[1])));
}
static Napi::Value unsqueeze(INFO) { return Wrap(ENV, at::unsqueeze(T(info[0]), Int(info[1]))); }
static Napi::Value expand(INFO) { return Wrap(ENV, T(info[0]).expand(Ints(info[1]))); }
static Napi::Value repeat(INFO) { return Wrap(ENV, T(info[0]).repeat(Ints(info[1]))); }
static Napi::Value narrow(INFO) { return Wrap(ENV, at::narrow(T(info[0]), Int(info[1]), Int(info[2]), Int(info[3]))); }
// (x, dim, start, end, step)
static Napi::Value slice(INFO) {
  return Wrap(ENV, at::slice(T(info[0]), Int(info[1]), Int(info[2]), Int(info[3]), Int(info[4])));
}
static Napi::Value select(INFO) { return Wrap(ENV, at::select(T(info[0]), Int(info[1]), Int(info[2]))); }
static Napi::Value indexSelect(INFO) { return Wrap(ENV, at::index_select(T(info[0]), Int(info[1]), T(info[2]))); }
static Napi::Value gather(INFO) { return Wrap(ENV, at::gather(T(info[0]), Int(info[1]), T(info[2]))); }
static Napi::Value scatter(INFO) { return Wrap(ENV, at::scatter(T(info[0]), Int(info[1]), T(info[2]), T(info[3]))); }
static Napi::Value maskedFill(INFO) { return Wrap(ENV, at::masked_fill(T(info[0]), T(info[1]), Scl(info[2]))); }
static Napi::Value flip(INFO) { return Wrap(ENV, at::flip(T(info[0]), Ints(info[1]))); }
static Napi::Value roll(INFO) { return Wrap(ENV, at::roll(T(info[0]), Ints(info[1]), Ints(info[2]))); }
static Napi::Value cat(INFO) { return Wrap(ENV, at::cat(TList(info[0]), Int(info[1]))); }
static Napi::Value stack(INFO) { return Wrap(ENV, at::stack(TList(info[0]), Int(info[1]))); }
// (x, sizeOrSizes, dim)
static Napi::Value split(INFO) {
  auto& x = T(info[0]);
  auto dim = Int(info[2]);
  if (info[1].IsArray()) return WrapList(ENV, at::split_with_sizes(x, Ints(info[1]), dim));
  return WrapList(ENV, at::split(x, Int(info[1]), dim));
}
static Napi::Value chunk(INFO) { return WrapList(ENV, at::chunk(T(info[0]), Int(info[1]), Int(info[2]))); }
static Napi::Value unbind(INFO) { return WrapList(ENV, at::unbind(T(info[0]), Int(info[1]))); }
static Napi::Value oneHot(INFO) { return Wrap(ENV, at::one_hot(T(info[0]), Int(info[1]))); }
static Napi::Value sort(INFO) {
  auto r = at::sort(T(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
static Napi::Value topk(INFO) {
  auto r = at::topk(T(info[0]), Int(info[1]), Int(info[2]), true, true);
  return WrapList(ENV, {std::get<0>(r), std::get<1>(r)});
}
// (probs, n, replacement)
static Napi::Value multinomial(INFO) { return Wrap(ENV, at::multinomial(T(info[0]), Int(info[1]), Bool(info[2]))); }
static Napi::Value bernoulli(INFO) {
  if (Given(info[1])) return Wrap(ENV, at::bernoulli(T(info[0]), Num(info[1])));
  return Wrap(ENV, at::bernoulli(T(info[0])));
}

void InitOps(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, add); GF_EXPORT(e, sub); GF_EXPORT(e, rsub); GF_EXPORT(e, rdiv); GF_EXPORT(e, mul);
  GF_EXPORT(e, div); GF_EXPORT(e, pow); GF_EXPORT(e, rpow); GF_EXPORT(e, remainder);
  GF_EXPORT(e, eq); GF_EXPORT(e, ne); GF_EXPORT(e, lt); GF_EXPORT(e, le); GF_EXPORT(e, gt); GF_EXPORT(e, ge);
  GF_EXPORT(e, maximum); GF_EXPORT(e, minimum); GF_EXPORT(e, logicalAnd); GF_EXPORT(e, logicalOr);
  GF_EXPORT(e, neg); GF_EXPORT(e, abs); GF_EXPORT(e, sign); GF_EXPORT(e, sqrt); GF_EXPORT(e, rsqrt);
  GF_EXPORT(e, square); GF_EXPORT(e, exp); GF_EXPORT(e, log); GF_EXPORT(e, log1p); GF_EXPORT(e, sin);
  GF_EXPORT(e, cos); GF_EXPORT(e, floor); GF_EXPORT(e, ceil); GF_EXPORT(e, round); GF_EXPORT(e, reciprocal);
  GF_EXPORT(e, erf); GF_EXPORT(e, logicalNot); GF_EXPORT(e, isfinite); GF_EXPORT(e, isnan);
  GF_EXPORT(e, clamp); GF_EXPORT(e, lerp); GF_EXPORT(e, where); GF_EXPORT(e, allclose); GF_EXPORT(e, equal);
  GF_EXPORT(e, sum); GF_EXPORT(e, mean); GF_EXPORT(e, var); e.Set("std", Napi::Function::New(env, Guarded<std_>, "std"));
  GF_EXPORT(e, amax); GF_EXPORT(e, amin); GF_EXPORT(e, maxDim); GF_EXPORT(e, minDim);
  GF_EXPORT(e, argmax); GF_EXPORT(e, argmin); GF_EXPORT(e, norm); GF_EXPORT(e, logsumexp);
  GF_EXPORT(e, cumsum); GF_EXPORT(e, prod); GF_EXPORT(e, all); GF_EXPORT(e, any);
  GF_EXPORT(e, matmul); GF_EXPORT(e, mm); GF_EXPORT(e, bmm); GF_EXPORT(e, addmm); GF_EXPORT(e, outer);
  GF_EXPORT(e, diag); GF_EXPORT(e, trace); GF_EXPORT(e, triu); GF_EXPORT(e, tril);
  GF_EXPORT(e, eigh); GF_EXPORT(e, qr); GF_EXPORT(e, svd); GF_EXPORT(e, inv);
  GF_EXPORT(e, reshape); GF_EXPORT(e, view); GF_EXPORT(e, permute); GF_EXPORT(e, transpose);
  GF_EXPORT(e, flatten); GF_EXPORT(e, squeeze); GF_EXPORT(e, unsqueeze); GF_EXPORT(e, expand);
  GF_EXPORT(e, repeat); GF_EXPORT(e, narrow); GF_EXPORT(e, slice); GF_EXPORT(e, select);
  GF_EXPORT(e, indexSelect); GF_EXPORT(e, gather); GF_EXPORT(e, scatter); GF_EXPORT(e, maskedFill);
  GF_EXPORT(e, flip); GF_EXPORT(e, roll); GF_EXPORT(e, cat); GF_EXPORT(e, stack); GF_EXPORT(e, split);
  GF_EXPORT(e, chunk); GF_EXPORT(e, unbind); GF_EXPORT(e, oneHot); GF_EXPORT(e, sort); GF_EXPORT(e, topk);
  GF_EXPORT(e, multinomial); GF_EXPORT(e, bernoulli);
}

}  // namespace gf
