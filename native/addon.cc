// Module entry and the conversions declared in common.h.
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <malloc.h>

namespace gf {

static std::atomic<int64_t> g_live{0};

int64_t LiveCount() { return g_live.load(); }

std::string FirstLine(const std::string& s) {
  auto end = s.find('\n');
  std::string line = end == std::string::npos ? s : s.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line.empty() ? std::string("native error") : line;
}

static int64_t StorageBytes(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}

// V8 is told how much native memory its tensor handles hold, so a program that forgets
// scope() still gets collected; but only in steps of kReportStep: one report per tensor
// made and freed cost up to a fifth of a convolution step (each report may start a GC).
static constexpr int64_t kReportStep = 64LL << 20;
static int64_t g_bytes = 0;
static int64_t g_reported = 0;

static void Account(Napi::Env env, int64_t delta) {
  g_bytes += delta;
  int64_t diff = g_bytes - g_reported;
  if (diff > kReportStep || diff < -kReportStep) {
    Napi::MemoryManagement::AdjustExternalMemory(env, diff);
    g_reported = g_bytes;
  }
}

namespace {
// `bytes` is what V8 was told (so the GC feels native memory when a user forgets scope()).
struct Slot {
  at::Tensor t;
  int64_t bytes = 0;
  uint32_t gen = 0;
};
// Per thread: each JS thread (a worker's environment) has its own handles.
thread_local std::vector<Slot> t_slots;
thread_local std::vector<uint32_t> t_free;

// A handle's data: generation in the high 32 bits, slot + 1 in the low (never null).
void* Encode(size_t index, uint32_t gen) {
  return reinterpret_cast<void*>((static_cast<uintptr_t>(gen) << 32) | static_cast<uintptr_t>(index + 1));
}

enum class Found { kLive, kStale, kForeign };

Found Lookup(const Napi::Value& v, Slot** out) {
  if (!v.IsExternal()) return Found::kForeign;
  auto code = reinterpret_cast<uintptr_t>(v.As<Ext>().Data());
  uintptr_t index = code & 0xffffffffu;
  if (index == 0 || index > t_slots.size()) return Found::kForeign;
  Slot& s = t_slots[index - 1];
  if (s.gen != static_cast<uint32_t>(code >> 32)) return Found::kStale;
  *out = &s;
  return Found::kLive;
}
}  // namespace

void Release(Napi::Env env, const Napi::Value& handle) {
  Slot* s = nullptr;
  if (Lookup(handle, &s) != Found::kLive) return;
  s->t.reset();
  g_live--;
  if (s->bytes) Account(env, -s->bytes);
  s->bytes = 0;
  s->gen++;
  t_free.push_back(static_cast<uint32_t>(s - t_slots.data()));
}

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  size_t index;
  if (!t_free.empty()) {
    index = t_free.back();
    t_free.pop_back();
  } else {
    index = t_slots.size();
    t_slots.emplace_back();
  }
  Slot& s = t_slots[index];
  s.t = std::move(t);
  s.bytes = StorageBytes(s.t);
  g_live++;
  if (s.bytes) Account(env, s.bytes);
  return Ext::New(env, Encode(index, s.gen));
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(i, Wrap(env, ts[i]));
  return arr;
}

at::Tensor& T(const Napi::Value& v, const char* what) {
  Slot* s = nullptr;
  switch (Lookup(v, &s)) {
    case Found::kLive: return s->t;
    case Found::kStale: throw Napi::Error::New(v.Env(), std::string("the ") + what + " was disposed and can no longer be used");
    default: throw Napi::TypeError::New(v.Env(), std::string("expected a ") + what);
  }
}

c10::optional<at::Tensor> OptT(const Napi::Value& v) {
  if (!Given(v)) return c10::nullopt;
  return T(v);
}

std::vector<at::Tensor> TList(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(T(arr.Get(i)));
  return out;
}

int64_t Int(const Napi::Value& v, const char* what) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // A fractional or NaN size must not be truncated into a different shape silently.
    if (!std::isfinite(d) || std::trunc(d) != d) throw Napi::TypeError::New(v.Env(), std::string("expected an ") + what + ", got " + Napi::Number::New(v.Env(), d).ToString().Utf8Value());
    return static_cast<int64_t>(d);
  }
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  throw Napi::TypeError::New(v.Env(), std::string("expected an ") + what);
}

double Num(const Napi::Value& v, const char* what) {
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  throw Napi::TypeError::New(v.Env(), std::string("expected a ") + what);
}

bool Bool(const Napi::Value& v) { return v.ToBoolean().Value(); }

at::Scalar Scl(const Napi::Value& v) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) return at::Scalar(Int(v));
  if (v.IsNumber()) {
    // JS has one number type: an integral value becomes an integer Scalar, as a Python
    // int would, so in-place updates of integer tensors (counters) keep their dtype.
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::nearbyint(d) == d && std::fabs(d) <= 9007199254740992.0) return at::Scalar(static_cast<int64_t>(d));
    return at::Scalar(d);
  }
  throw Napi::TypeError::New(v.Env(), "expected a number");
}

std::vector<int64_t> Ints(const Napi::Value& v, const char* what) {
  if (v.IsNumber()) return {Int(v)};
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string("expected a ") + what);
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out[i] = Int(arr.Get(i), what);
  return out;
}

c10::optional<std::vector<int64_t>> OptInts(const Napi::Value& v) {
  if (!Given(v)) return c10::nullopt;
  return Ints(v);
}

std::string Str(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), std::string("expected a ") + what);
  return v.As<Napi::String>().Utf8Value();
}

struct DTypeEntry {
  const char* name;
  at::ScalarType type;
};
static const DTypeEntry kDTypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16}, {"int64", at::kLong}, {"int32", at::kInt},
    {"int16", at::kShort}, {"int8", at::kChar}, {"uint8", at::kByte}, {"bool", at::kBool},
};

at::ScalarType DType(const Napi::Value& v) {
  auto s = Str(v, "dtype name");
  for (auto& e : kDTypes)
    if (s == e.name) return e.type;
  throw Napi::TypeError::New(v.Env(), "unknown dtype '" + s + "'");
}

const char* DTypeName(at::ScalarType s) {
  for (auto& e : kDTypes)
    if (s == e.type) return e.name;
  return "unsupported";
}

at::Device Dev(const Napi::Value& v) {
  if (!Given(v)) return at::Device(at::kCPU);
  return at::Device(Str(v, "device name"));
}

at::TensorOptions Opts(const Napi::Value& dtype, const Napi::Value& device) {
  auto o = at::TensorOptions().device(Dev(device));
  if (Given(dtype)) o = o.dtype(DType(dtype));
  return o;
}

static Napi::Value liveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(LiveCount()));
}

static Napi::Value dispose(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "expected a tensor");
  Release(info.Env(), info[0]);
  return info.Env().Undefined();
}

static Napi::Value isLive(const Napi::CallbackInfo& info) {
  Slot* s = nullptr;
  return Napi::Boolean::New(info.Env(), Lookup(info[0], &s) == Found::kLive);
}

static Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  auto n = Int(info[0]);
  if (n < 1) throw Napi::RangeError::New(info.Env(), "thread count must be at least 1");
  at::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

static Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

static Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("cuda", at::hasCUDA());
  o.Set("cudaDevices", at::hasCUDA() ? static_cast<double>(at::detail::getCUDAHooks().getNumGPUs()) : 0.0);
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("parallel", at::get_parallel_info());
  return o;
}

// glibc serves large blocks with fresh mmap()s and returns freed heap tops to the kernel,
// so every activation of a training step is page-faulted in anew. Keeping blocks up to
// 32 MiB on the heap and trimming only past 1 GiB cut a conv step's system time by about
// two thirds here. Blocks beyond 32 MiB (mallopt's ceiling for the threshold: BigGAN's
// activations at batch 50 and 32², 52 MB each) would still be mmap()ed and faulted in on
// every allocation (3× the time of a memory-bound op on them), so mmap is off altogether:
// every block comes from the heap, and freed ones are reused. It changes the whole process's allocator, so it is the program's choice
// (the CLI and the benchmarks make it), never a side effect of loading the library.
// Returns whether the settings were applied (false where glibc's mallopt is missing).
static Napi::Value tuneMalloc(const Napi::CallbackInfo& info) {
#ifdef M_MMAP_THRESHOLD
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && mallopt(M_MMAP_MAX, 0) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  GF_EXPORT(exports, tuneMalloc);
  GF_EXPORT(exports, liveTensors);
  GF_EXPORT(exports, dispose);
  GF_EXPORT(exports, isLive);
  GF_EXPORT(exports, setNumThreads);
  GF_EXPORT(exports, getNumThreads);
  GF_EXPORT(exports, buildInfo);
  InitTensor(env, exports);
  InitOps(env, exports);
  InitNNOps(env, exports);
  InitAutograd(env, exports);
  InitOptim(env, exports);
  InitJit(env, exports);
  InitDistributed(env, exports);
  InitGridSample(env, exports);
  InitProfiler(env, exports);
  InitFlops(env, exports);
  InitAutocast(env, exports);
  return exports;
}

}  // namespace gf

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gf::Init(env, exports); }

NODE_API_MODULE(ganforge, InitModule)
