// Tensor creation, properties, host transfer, in-place updates and random state.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cstring>
#include <mutex>

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

// ---- creation: (shape, dtype?, device?) ----
static Napi::Value zeros(INFO) { return Wrap(ENV, at::zeros(Ints(info[0]), Opts(info[1], info[2]))); }
static Napi::Value ones(INFO) { return Wrap(ENV, at::ones(Ints(info[0]), Opts(info[1], info[2]))); }
static Napi::Value empty(INFO) { return Wrap(ENV, at::empty(Ints(info[0]), Opts(info[1], info[2]))); }
static Napi::Value full(INFO) { return Wrap(ENV, at::full(Ints(info[0]), Scl(info[1]), Opts(info[2], info[3]))); }
static Napi::Value randn(INFO) { return Wrap(ENV, at::randn(Ints(info[0]), Opts(info[1], info[2]))); }
static Napi::Value rand(INFO) { return Wrap(ENV, at::rand(Ints(info[0]), Opts(info[1], info[2]))); }
// (low, high, shape, dtype?, device?)
static Napi::Value randint(INFO) {
  auto o = Opts(info[3], info[4]);
  if (!Given(info[3])) o = o.dtype(at::kLong);
  return Wrap(ENV, at::randint(Int(info[0]), Int(info[1]), Ints(info[2]), o));
}
static Napi::Value randperm(INFO) {
  auto o = Opts(info[1], info[2]);
  if (!Given(info[1])) o = o.dtype(at::kLong);
  return Wrap(ENV, at::randperm(Int(info[0]), o));
}
// (start, end, step, dtype?, device?)
static Napi::Value arange(INFO) {
  auto o = Opts(info[3], info[4]);
  return Wrap(ENV, at::arange(Scl(info[0]), Scl(info[1]), Scl(info[2]), o));
}
static Napi::Value linspace(INFO) {
  return Wrap(ENV, at::linspace(Scl(info[0]), Scl(info[1]), Int(info[2]), Opts(info[3], info[4])));
}
static Napi::Value eye(INFO) { return Wrap(ENV, at::eye(Int(info[0]), Int(info[1]), Opts(info[2], info[3]))); }

// (bytes: ArrayBufferView, shape, dtype) -> a CPU tensor owning a copy of the bytes.
static Napi::Value fromBytes(INFO) {
  if (!info[0].IsTypedArray() && !info[0].IsDataView() && !info[0].IsBuffer())
    throw Napi::TypeError::New(ENV, "expected a typed array");
  auto view = info[0].As<Napi::TypedArray>();
  auto buf = view.ArrayBuffer();
  auto* src = static_cast<uint8_t*>(buf.Data()) + view.ByteOffset();
  size_t nbytes = view.ByteLength();
  auto shape = Ints(info[1]);
  auto dtype = DType(info[2]);
  auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t need = static_cast<size_t>(t.numel()) * t.element_size();
  if (need != nbytes)
    throw Napi::RangeError::New(ENV, "data has " + std::to_string(nbytes) + " bytes but shape " + c10::str(t.sizes()) +
                                         " of " + DTypeName(dtype) + " needs " + std::to_string(need));
  if (need) std::memcpy(t.data_ptr(), src, need);
  return Wrap(ENV, t);
}

// Contiguous CPU bytes of the tensor as a fresh ArrayBuffer.
static Napi::Value toBytes(INFO) {
  auto t = T(info[0]).detach().to(at::kCPU).contiguous();
  size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  auto ab = Napi::ArrayBuffer::New(ENV, n);
  if (n) std::memcpy(ab.Data(), t.data_ptr(), n);
  return ab;
}

// ---- properties ----
static Napi::Value shape(INFO) {
  auto s = T(info[0]).sizes();
  auto arr = Napi::Array::New(ENV, s.size());
  for (size_t i = 0; i < s.size(); i++) arr.Set(i, Napi::Number::New(ENV, static_cast<double>(s[i])));
  return arr;
}
static Napi::Value strides(INFO) {
  auto s = T(info[0]).strides();
  auto arr = Napi::Array::New(ENV, s.size());
  for (size_t i = 0; i < s.size(); i++) arr.Set(i, Napi::Number::New(ENV, static_cast<double>(s[i])));
  return arr;
}
static Napi::Value dtype(INFO) { return Napi::String::New(ENV, DTypeName(T(info[0]).scalar_type())); }
static Napi::Value device(INFO) { return Napi::String::New(ENV, T(info[0]).device().str()); }
static Napi::Value numel(INFO) { return Napi::Number::New(ENV, static_cast<double>(T(info[0]).numel())); }
static Napi::Value dim(INFO) { return Napi::Number::New(ENV, static_cast<double>(T(info[0]).dim())); }
static Napi::Value isContiguous(INFO) { return Napi::Boolean::New(ENV, T(info[0]).is_contiguous()); }
static Napi::Value item(INFO) {
  auto& t = T(info[0]);
  if (t.numel() != 1)
    throw Napi::Error::New(ENV, "item() needs a tensor with one element, got shape " + c10::str(t.sizes()));
  auto s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(ENV, s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(ENV, static_cast<double>(s.toLong()));
  return Napi::Number::New(ENV, s.toDouble());
}
// Two handles share storage (a view, or the same tensor).
static Napi::Value sameStorage(INFO) {
  auto& a = T(info[0]);
  auto& b = T(info[1]);
  return Napi::Boolean::New(ENV, a.has_storage() && b.has_storage() && a.storage().is_alias_of(b.storage()));
}

// ---- conversion ----
// (t, dtype?, device?, copy)
static Napi::Value to(INFO) {
  auto& t = T(info[0]);
  auto dt = Given(info[1]) ? DType(info[1]) : t.scalar_type();
  auto dev = Given(info[2]) ? Dev(info[2]) : t.device();
  return Wrap(ENV, t.to(dev, dt, /*non_blocking=*/false, /*copy=*/Bool(info[3])));
}
static Napi::Value clone(INFO) { return Wrap(ENV, T(info[0]).clone()); }
static Napi::Value detach(INFO) { return Wrap(ENV, T(info[0]).detach()); }
static Napi::Value contiguous(INFO) { return Wrap(ENV, T(info[0]).contiguous()); }
static Napi::Value channelsLast(INFO) { return Wrap(ENV, T(info[0]).contiguous(at::MemoryFormat::ChannelsLast)); }
static Napi::Value alias(INFO) { return Wrap(ENV, T(info[0])); }

// ---- in-place (used by init, optimisers, EMA and state loading) ----
static Napi::Value copy_(INFO) {
  T(info[0]).copy_(T(info[1]));
  return ENV.Undefined();
}
static Napi::Value fill_(INFO) {
  T(info[0]).fill_(Scl(info[1]));
  return ENV.Undefined();
}
static Napi::Value zero_(INFO) {
  T(info[0]).zero_();
  return ENV.Undefined();
}
static Napi::Value normal_(INFO) {
  T(info[0]).normal_(Num(info[1]), Num(info[2]));
  return ENV.Undefined();
}
static Napi::Value uniform_(INFO) {
  T(info[0]).uniform_(Num(info[1]), Num(info[2]));
  return ENV.Undefined();
}
static Napi::Value mul_(INFO) {
  if (info[1].IsExternal()) T(info[0]).mul_(T(info[1]));
  else T(info[0]).mul_(Scl(info[1]));
  return ENV.Undefined();
}
static Napi::Value add_(INFO) {
  auto alpha = Given(info[2]) ? Scl(info[2]) : at::Scalar(1);
  if (info[1].IsExternal()) T(info[0]).add_(T(info[1]), alpha);
  else T(info[0]).add_(Scl(info[1]), alpha);
  return ENV.Undefined();
}
static Napi::Value lerp_(INFO) {
  if (info[2].IsExternal()) T(info[0]).lerp_(T(info[1]), T(info[2]));
  else T(info[0]).lerp_(T(info[1]), Scl(info[2]));
  return ENV.Undefined();
}
static Napi::Value clamp_(INFO) {
  c10::optional<at::Scalar> lo, hi;
  if (Given(info[1])) lo = Scl(info[1]);
  if (Given(info[2])) hi = Scl(info[2]);
  T(info[0]).clamp_(lo, hi);
  return ENV.Undefined();
}

// ---- random state ----
static at::Generator DefaultGen(const at::Device& d) {
  return at::globalContext().defaultGenerator(d);
}

static Napi::Value manualSeed(INFO) {
  auto seed = static_cast<uint64_t>(Int(info[0]));
  {
    auto g = DefaultGen(at::Device(at::kCPU));
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  if (at::hasCUDA()) {
    auto n = at::detail::getCUDAHooks().getNumGPUs();
    for (int i = 0; i < n; i++) {
      auto g = DefaultGen(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
  }
  return ENV.Undefined();
}

// (device?) -> Uint8Array holding the generator's full state.
static Napi::Value getRngState(INFO) {
  auto g = DefaultGen(Dev(info[0]));
  at::Tensor s;
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    s = g.get_state();
  }
  auto out = Napi::Uint8Array::New(ENV, s.numel());
  std::memcpy(out.Data(), s.data_ptr(), s.numel());
  return out;
}

// (bytes, device?)
static Napi::Value setRngState(INFO) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(ENV, "expected a Uint8Array of generator state");
  auto view = info[0].As<Napi::TypedArray>();
  auto t = at::empty({static_cast<int64_t>(view.ByteLength())}, at::kByte);
  std::memcpy(t.data_ptr(), static_cast<uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset(), view.ByteLength());
  auto g = DefaultGen(Dev(info[1]));
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(t);
  return ENV.Undefined();
}

void InitTensor(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, zeros); GF_EXPORT(e, ones); GF_EXPORT(e, empty); GF_EXPORT(e, full);
  GF_EXPORT(e, randn); GF_EXPORT(e, rand); GF_EXPORT(e, randint); GF_EXPORT(e, randperm);
  GF_EXPORT(e, arange); GF_EXPORT(e, linspace); GF_EXPORT(e, eye);
  GF_EXPORT(e, fromBytes); GF_EXPORT(e, toBytes);
  GF_EXPORT(e, shape); GF_EXPORT(e, strides); GF_EXPORT(e, dtype); GF_EXPORT(e, device);
  GF_EXPORT(e, numel); GF_EXPORT(e, dim); GF_EXPORT(e, isContiguous); GF_EXPORT(e, item);
  GF_EXPORT(e, sameStorage);
  GF_EXPORT(e, to); GF_EXPORT(e, clone); GF_EXPORT(e, detach); GF_EXPORT(e, contiguous);
  GF_EXPORT(e, channelsLast); GF_EXPORT(e, alias);
  GF_EXPORT(e, copy_); GF_EXPORT(e, fill_); GF_EXPORT(e, zero_); GF_EXPORT(e, normal_);
  GF_EXPORT(e, uniform_); GF_EXPORT(e, mul_); GF_EXPORT(e, add_); GF_EXPORT(e, lerp_); GF_EXPORT(e, clamp_);
  GF_EXPORT(e, manualSeed); GF_EXPORT(e, getRngState); GF_EXPORT(e, setRngState);
}

}  // namespace gf
