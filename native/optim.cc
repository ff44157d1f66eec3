// Optimiser steps and parameter-list updates done in one native call for all parameters,
// so a step costs one crossing of the JS boundary however many tensors the model has.
// The arithmetic follows PyTorch 1.13's single-tensor Adam and SGD exactly.
#include "common.h"

#include <c10/core/GradMode.h>

#include <cmath>

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

static Napi::Float64Array Steps(const Napi::Value& v, size_t n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(v.Env(), "expected a Float64Array of step counts");
  auto a = v.As<Napi::Float64Array>();
  if (a.ElementLength() != n) throw Napi::RangeError::New(v.Env(), "step-count array does not match the parameter list");
  return a;
}

static void SameLength(Napi::Env env, size_t a, size_t b, const char* what) {
  if (a != b) throw Napi::RangeError::New(env, std::string(what) + " list does not match the parameter list");
}

// (params[], expAvg[], expAvgSq[], steps: Float64Array, lr, beta1, beta2, eps, weightDecay, maxExpAvgSq[]|null)
// Parameters without a gradient are skipped and keep their step count, as in PyTorch.
static Napi::Value adamStep(INFO) {
  auto params = TList(info[0]);
  auto m = TList(info[1]);
  auto v = TList(info[2]);
  auto steps = Steps(info[3], params.size());
  double lr = Num(info[4]), b1 = Num(info[5]), b2 = Num(info[6]), eps = Num(info[7]), wd = Num(info[8]);
  std::vector<at::Tensor> vmax;
  if (Given(info[9])) vmax = TList(info[9]);
  SameLength(ENV, m.size(), params.size(), "exp_avg");
  SameLength(ENV, v.size(), params.size(), "exp_avg_sq");
  if (!vmax.empty()) SameLength(ENV, vmax.size(), params.size(), "max_exp_avg_sq");
  c10::NoGradGuard ng;
  for (size_t i = 0; i < params.size(); i++) {
    auto& p = params[i];
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    double step = steps[i] + 1;
    steps[i] = step;
    if (wd != 0) g = g.add(p, wd);
    m[i].mul_(b1).add_(g, 1 - b1);
    v[i].mul_(b2).addcmul_(g, g, 1 - b2);
    double bc1 = 1 - std::pow(b1, step);
    double bc2sqrt = std::sqrt(1 - std::pow(b2, step));
    at::Tensor denom;
    if (!vmax.empty()) {
      at::maximum_out(vmax[i], vmax[i], v[i]);
      denom = (vmax[i].sqrt() / bc2sqrt).add_(eps);
    } else {
      denom = (v[i].sqrt() / bc2sqrt).add_(eps);
    }
    p.addcdiv_(m[i], denom, -lr / bc1);
  }
  return ENV.Undefined();
}

// (params[], momentumBuf[], steps: Float64Array, lr, momentum, dampening, weightDecay, nesterov)
// A buffer whose step count is 0 is uninitialised: it takes the first gradient as is.
static Napi::Value sgdStep(INFO) {
  auto params = TList(info[0]);
  auto bufs = TList(info[1]);
  auto steps = Steps(info[2], params.size());
  double lr = Num(info[3]), mom = Num(info[4]), damp = Num(info[5]), wd = Num(info[6]);
  bool nesterov = Bool(info[7]);
  if (mom != 0) SameLength(ENV, bufs.size(), params.size(), "momentum buffer");
  c10::NoGradGuard ng;
  for (size_t i = 0; i < params.size(); i++) {
    auto& p = params[i];
    at::Tensor d = p.grad();
    if (!d.defined()) continue;
    if (wd != 0) d = d.add(p, wd);
    if (mom != 0) {
      auto& buf = bufs[i];
      if (steps[i] == 0) buf.copy_(d);
      else buf.mul_(mom).add_(d, 1 - damp);
      d = nesterov ? d.add(buf, mom) : buf;
    }
    steps[i] = steps[i] + 1;
    p.add_(d, -lr);
  }
  return ENV.Undefined();
}

// dst[i] <- lerp(dst[i], src[i], weight): the generator moving average, in place.
static Napi::Value lerpAll_(INFO) {
  auto dst = TList(info[0]);
  auto src = TList(info[1]);
  SameLength(ENV, src.size(), dst.size(), "source");
  auto w = Scl(info[2]);
  c10::NoGradGuard ng;
  for (size_t i = 0; i < dst.size(); i++) dst[i].lerp_(src[i], w);
  return ENV.Undefined();
}

static Napi::Value copyAll_(INFO) {
  auto dst = TList(info[0]);
  auto src = TList(info[1]);
  SameLength(ENV, src.size(), dst.size(), "source");
  c10::NoGradGuard ng;
  for (size_t i = 0; i < dst.size(); i++) dst[i].copy_(src[i]);
  return ENV.Undefined();
}

// (params[]) drop every .grad (set_to_none semantics)
static Napi::Value zeroGrads(INFO) {
  for (auto& p : TList(info[0])) p.mutable_grad().reset();
  return ENV.Undefined();
}

// (params[], maxNorm, normType) -> total norm before clipping
static Napi::Value clipGradNorm(INFO) {
  auto params = TList(info[0]);
  double maxNorm = Num(info[1]), p = Num(info[2]);
  c10::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (auto& t : params)
    if (t.grad().defined()) norms.push_back(t.grad().norm(p));
  if (norms.empty()) return Napi::Number::New(ENV, 0);
  double total = at::stack(norms).norm(p).item<double>();
  double coef = maxNorm / (total + 1e-6);
  if (coef < 1)
    for (auto& t : params)
      if (t.grad().defined()) t.mutable_grad().mul_(coef);
  return Napi::Number::New(ENV, total);
}

// (params[], nan, posinf, neginf): every gradient through nan_to_num in place (NaN -> nan,
// +inf -> posinf, -inf -> neginf, finite values kept), one call for the whole list.
static Napi::Value nanToNumGrads_(INFO) {
  auto params = TList(info[0]);
  double nan = Num(info[1]), posinf = Num(info[2]), neginf = Num(info[3]);
  c10::NoGradGuard ng;
  for (auto& p : params) {
    at::Tensor g = p.grad();
    if (g.defined()) g.nan_to_num_(nan, posinf, neginf);
  }
  return ENV.Undefined();
}

void InitOptim(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, adamStep); GF_EXPORT(e, sgdStep); GF_EXPORT(e, lerpAll_); GF_EXPORT(e, copyAll_);
  GF_EXPORT(e, zeroGrads); GF_EXPORT(e, clipGradNorm); GF_EXPORT(e, nanToNumGrads_);
}

}  // namespace gf
