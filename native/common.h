// Shared plumbing of the addon: how a tensor travels between JS and C++, how JS values
// become ATen arguments, and the guard that turns every C++ exception into a JS Error.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <c10/util/Optional.h>
#include <string>
#include <vector>

namespace gf {

// A JS tensor handle is a Napi::External with no finalizer whose data is not a pointer but
// a slot number and generation in this thread's table of tensors (addon.cc): an N-API
// finalizer per handle cost about a quarter of a tiny op. Disposing frees the slot and bumps
// its generation, so a stale handle is recognised; a tensor JS forgets without disposing is
// freed by src/torch/tensor.ts's FinalizationRegistry.
using Ext = Napi::External<void>;

// Number of handles whose tensor is still alive (not disposed, not finalized).
int64_t LiveCount();

// The tensor behind a handle; throws a TypeError for anything else or a disposed one.
at::Tensor& T(const Napi::Value& v, const char* what = "tensor");
c10::optional<at::Tensor> OptT(const Napi::Value& v);
// Wraps a tensor in a new handle; an undefined tensor becomes null.
Napi::Value Wrap(Napi::Env env, at::Tensor t);
Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts);
std::vector<at::Tensor> TList(const Napi::Value& v);
// Releases the handle's tensor now (a stale or foreign handle: nothing to do).
void Release(Napi::Env env, const Napi::Value& handle);

std::vector<int64_t> Ints(const Napi::Value& v, const char* what = "list of integers");
c10::optional<std::vector<int64_t>> OptInts(const Napi::Value& v);
int64_t Int(const Napi::Value& v, const char* what = "integer");
double Num(const Napi::Value& v, const char* what = "number");
bool Bool(const Napi::Value& v);
at::Scalar Scl(const Napi::Value& v);
std::string Str(const Napi::Value& v, const char* what = "string");
at::ScalarType DType(const Napi::Value& v);
const char* DTypeName(at::ScalarType s);
at::Device Dev(const Napi::Value& v);
at::TensorOptions Opts(const Napi::Value& dtype, const Napi::Value& device);
inline bool Given(const Napi::Value& v) { return !v.IsUndefined() && !v.IsNull(); }

// conv_transpose2d; on the CPU through oneDNN's convolution backward-data (conv_transpose.cc).
at::Tensor ConvTranspose2dCpu(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef outputPadding,
                              int64_t groups, at::IntArrayRef dilation);

// conv2d; on the CPU, 3×3 float32 convolutions by Winograd's algorithm where oneDNN has it
// (conv_winograd.cc), everything else libtorch's op.
at::Tensor Conv2dCpu(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                     at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);
// Whether conv2d would run a 3×3 stride-1 convolution with outChannels filters over x's
// samples and channels at h×w (x resampled first, or x itself) by Winograd's algorithm.
bool Conv3x3Winograd(const at::Tensor& x, int64_t outChannels, int64_t h, int64_t w, int64_t padding, bool bias);

// The first line of a C++ error message: libtorch appends backtraces and notes.
std::string FirstLine(const std::string& s);

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

template <Fn F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), FirstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), FirstLine(e.what()));
  } catch (...) {
    throw Napi::Error::New(info.Env(), "unknown native error");
  }
}

#define GF_EXPORT(exports, name) \
  (exports).Set(#name, Napi::Function::New((exports).Env(), ::gf::Guarded<name>, #name))

void InitTensor(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitNNOps(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);
void InitJit(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);
void InitGridSample(Napi::Env env, Napi::Object exports);
void InitProfiler(Napi::Env env, Napi::Object exports);
void InitFlops(Napi::Env env, Napi::Object exports);
void InitAutocast(Napi::Env env, Napi::Object exports);

}  // namespace gf
