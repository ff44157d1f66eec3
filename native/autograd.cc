// libtorch's autograd, exposed as is: backward, grad (with create_graph for R1, WGAN-GP
// and path-length penalties), grad mode, and the .grad / requires_grad accessors.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

// Gradients are computed outside autocast, as PyTorch advises: each backward op then runs in
// the type its forward op ran in (bf16 for a lowered convolution), not re-cast by the
// forward policy. Autocast is per thread and autograd carries it into its work, so a
// penalty that calls grad() inside an autocast region needs this too.
static c10::DispatchKeySet AutocastKeys() {
  return c10::DispatchKeySet(c10::DispatchKey::AutocastCPU) | c10::DispatchKeySet(c10::DispatchKey::AutocastCUDA);
}

// (t, grad?, retainGraph, createGraph)
static Napi::Value backward(INFO) {
  auto& t = T(info[0]);
  auto g = OptT(info[1]);
  if (!g && t.numel() != 1)
    throw Napi::Error::New(ENV, "backward() without a gradient needs a scalar output, got shape " + c10::str(t.sizes()));
  c10::optional<bool> retain;
  if (Given(info[2])) retain = Bool(info[2]);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(AutocastKeys());
  t.backward(g ? *g : at::Tensor(), retain, Bool(info[3]));
  return ENV.Undefined();
}

// (outputs[], inputs[], gradOutputs[]|null, retainGraph?, createGraph, allowUnused) -> (tensor|null)[]
static Napi::Value grad(INFO) {
  auto outputs = TList(info[0]);
  auto inputs = TList(info[1]);
  std::vector<at::Tensor> gradOutputs;
  if (Given(info[2])) gradOutputs = TList(info[2]);
  c10::optional<bool> retain;
  if (Given(info[3])) retain = Bool(info[3]);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(AutocastKeys());
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, Bool(info[4]), Bool(info[5]));
  return WrapList(ENV, grads);
}

// (enabled) -> previous
static Napi::Value setGradEnabled(INFO) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(Bool(info[0]));
  return Napi::Boolean::New(ENV, prev);
}
static Napi::Value isGradEnabled(INFO) { return Napi::Boolean::New(ENV, at::GradMode::is_enabled()); }
static Napi::Value requiresGrad(INFO) { return Napi::Boolean::New(ENV, T(info[0]).requires_grad()); }
static Napi::Value setRequiresGrad(INFO) {
  T(info[0]).requires_grad_(Bool(info[1]));
  return ENV.Undefined();
}
static Napi::Value isLeaf(INFO) { return Napi::Boolean::New(ENV, T(info[0]).is_leaf()); }
static Napi::Value gradOf(INFO) { return Wrap(ENV, T(info[0]).grad()); }
// (t, grad|null)
static Napi::Value setGrad(INFO) {
  auto& t = T(info[0]);
  if (Given(info[1])) t.mutable_grad() = T(info[1]);
  else t.mutable_grad().reset();
  return ENV.Undefined();
}
static Napi::Value gradFnName(INFO) {
  auto fn = T(info[0]).grad_fn();
  if (!fn) return ENV.Null();
  return Napi::String::New(ENV, fn->name());
}

void InitAutograd(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, backward); GF_EXPORT(e, grad); GF_EXPORT(e, setGradEnabled); GF_EXPORT(e, isGradEnabled);
  GF_EXPORT(e, requiresGrad); GF_EXPORT(e, setRequiresGrad); GF_EXPORT(e, isLeaf); GF_EXPORT(e, gradOf);
  GF_EXPORT(e, setGrad); GF_EXPORT(e, gradFnName);
}

}  // namespace gf
