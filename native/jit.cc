// TorchScript modules loaded and run from a file, with no Python: the feature networks of
// the metrics (NVIDIA's inception-2015-12-05.pt, vgg16.pt, or a stand-in with their call
// convention). A module lives in a JS handle of its own, freed by jitDispose (the
// finalizer is only the backstop).
#include "common.h"

#include <c10/core/GradMode.h>
#include <torch/script.h>

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

struct JitHandle {
  c10::optional<torch::jit::Module> m;
};
using JitExt = Napi::External<JitHandle>;

static torch::jit::Module& M(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a TorchScript module");
  auto* h = v.As<JitExt>().Data();
  if (!h->m) throw Napi::Error::New(v.Env(), "the TorchScript module was disposed and can no longer be used");
  return *h->m;
}

// (path, device?) -> module handle, in eval mode, its tensors on the device.
static Napi::Value jitLoad(INFO) {
  auto path = Str(info[0], "file path");
  auto dev = Dev(info[1]);
  auto* h = new JitHandle();
  try {
    h->m = torch::jit::load(path, dev);
    h->m->eval();
    // Frozen: a caller that differentiates through the network (projection's LPIPS) wants
    // gradients for its inputs, never for the network's own weights.
    for (auto p : h->m->parameters()) p.requires_grad_(false);
  } catch (...) {
    delete h;
    throw;
  }
  return JitExt::New(ENV, h, [](Napi::Env, JitHandle* p) { delete p; });
}

static Napi::Value jitDispose(INFO) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(ENV, "expected a TorchScript module");
  info[0].As<JitExt>().Data()->m.reset();
  return ENV.Undefined();
}

// (module, method) -> [{name, type, hasDefault}] of the method's arguments after self, so
// the caller can say in one line which argument a network lacks.
static Napi::Value jitArguments(INFO) {
  auto& m = M(info[0]);
  auto name = Str(info[1], "method name");
  auto method = m.find_method(name);
  if (!method) throw Napi::Error::New(ENV, "the TorchScript module has no method '" + name + "'");
  const auto& args = method->function().getSchema().arguments();
  auto out = Napi::Array::New(ENV);
  uint32_t k = 0;
  for (size_t i = 1; i < args.size(); i++) {
    auto o = Napi::Object::New(ENV);
    o.Set("name", args[i].name());
    o.Set("type", args[i].type()->str());
    o.Set("hasDefault", args[i].default_value().has_value());
    out.Set(k++, o);
  }
  return out;
}

static c10::IValue ToIValue(const Napi::Value& v) {
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::nearbyint(d) == d && std::fabs(d) <= 9007199254740992.0) return c10::IValue(static_cast<int64_t>(d));
    return c10::IValue(d);
  }
  if (v.IsString()) return c10::IValue(v.As<Napi::String>().Utf8Value());
  if (v.IsExternal()) return c10::IValue(T(v));
  if (v.IsNull() || v.IsUndefined()) return c10::IValue();
  throw Napi::TypeError::New(v.Env(), "a TorchScript argument must be a tensor, number, boolean, string or null");
}

// (module, method, args[], kwargs{}, grad?) -> the tensor it returns (the first, for a
// tuple), run without autograd unless `grad` is true: the metrics measure with these
// networks; projection differentiates through one (its weights stay frozen).
static Napi::Value jitCall(INFO) {
  auto& m = M(info[0]);
  auto name = Str(info[1], "method name");
  auto method = m.find_method(name);
  if (!method) throw Napi::Error::New(ENV, "the TorchScript module has no method '" + name + "'");
  if (!info[2].IsArray()) throw Napi::TypeError::New(ENV, "expected an array of arguments");
  std::vector<c10::IValue> args;
  auto arr = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) args.push_back(ToIValue(arr.Get(i)));
  torch::jit::Kwargs kwargs;
  if (Given(info[3])) {
    auto obj = info[3].As<Napi::Object>();
    auto keys = obj.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      auto k = keys.Get(i).As<Napi::String>().Utf8Value();
      kwargs.emplace(k, ToIValue(obj.Get(k)));
    }
  }
  bool grad = Given(info[4]) && info[4].ToBoolean().Value();
  // With grad, the caller's mode holds (noGrad() around the call still turns it off).
  c10::AutoGradMode mode(grad && c10::GradMode::is_enabled());
  auto out = (*method)(std::move(args), kwargs);
  if (out.isTuple() && !out.toTupleRef().elements().empty()) out = out.toTupleRef().elements()[0];
  if (!out.isTensor()) throw Napi::Error::New(ENV, "the TorchScript method '" + name + "' returned " + out.tagKind() + ", not a tensor");
  return Wrap(ENV, out.toTensor());
}

void InitJit(Napi::Env env, Napi::Object exports) {
  GF_EXPORT(exports, jitLoad);
  GF_EXPORT(exports, jitDispose);
  GF_EXPORT(exports, jitArguments);
  GF_EXPORT(exports, jitCall);
}

}  // namespace gf
