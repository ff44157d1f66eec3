// A FLOP counter for convolutions and matrix products, fed by libtorch itself: while it
// runs, a thread-local RecordFunction observer sees every ATen op this thread (and the
// autograd engine working for it) dispatches, forward and backward, with its arguments.
// Counting what actually runs, rather than what a model's layers say, gets the backward
// right without guessing: convolution_backward's output_mask says whether the input
// gradient, the weight gradient or both were computed (no input gradient for a first
// layer on data), and double backward (R1, gradient penalty) shows up as the ops it runs.
//
// Convention: one multiply-add = 2 FLOPs; a convolution's forward costs
// 2 · (output elements) · (Cin / groups) · kh · kw (transposed: the input's elements and
// Cout / groups, as its kernel scatters each input pixel); its input gradient and its
// weight gradient each cost as much as its forward. mm/addmm: 2·M·K·N; bmm/baddbmm
// 2·B·M·K·N; mv/addmv 2·M·K. Biases, norms, activations and element-wise work are not
// counted. An op inside a counted op (aten::convolution → aten::_convolution →
// aten::mkldnn_convolution) is counted once, at the outermost.
// RecordFunction::inputs() asserts, in a build without NDEBUG, a flag that only a debug
// libtorch sets: compile this file as libtorch itself was compiled (release).
#ifndef NDEBUG
#define NDEBUG
#endif
#include "common.h"

#include <ATen/record_function.h>

#include <atomic>
#include <cstring>

namespace gf {

namespace {

enum Kind { kConv = 0, kConvT = 1, kMatmul = 2, kKinds = 3 };

// Multiply-adds, [backward?][kind]; calls likewise. Atomic: the autograd engine may run a
// backward on another thread carrying this thread's callbacks.
std::atomic<int64_t> g_macs[2][kKinds];
std::atomic<int64_t> g_calls[2][kKinds];
at::CallbackHandle g_handle = 0;

// Per thread: how deep inside counted ops (only the outermost counts) and inside autograd
// nodes (ops under one are backward work) the current op is.
thread_local int t_counted_depth = 0;
thread_local int t_backward_depth = 0;

struct Ctx : at::ObserverContext {
  bool backwardNode = false;  // an autograd node's scope (its end leaves the backward)
  bool counted = false;       // a counted op (its end leaves the counted depth)
  bool convForward = false;   // aten::convolution: its MACs need the output (end callback)
  bool backward = false;      // seen inside an autograd node
  Kind kind = kConv;
  int64_t perOutput = 0;      // forward conv: MACs per output element
};

int64_t Prod(at::IntArrayRef s, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < s.size(); i++) p *= s[i];
  return p;
}

const at::Tensor* TensorAt(c10::ArrayRef<const c10::IValue> in, size_t i) {
  return i < in.size() && in[i].isTensor() ? &in[i].toTensor() : nullptr;
}

void Add(bool backward, Kind k, int64_t macs) {
  g_macs[backward][k] += macs;
  g_calls[backward][k] += 1;
}

bool Is(const char* name, const char* want) { return std::strcmp(name, want) == 0; }

void Count(const at::RecordFunction& fn, Ctx* ctx, const char* op, bool conv, bool convBack);

std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction& fn) {
  auto ctx = std::make_unique<Ctx>();
  if (fn.scope() == at::RecordScope::BACKWARD_FUNCTION) {
    ctx->backwardNode = true;
    t_backward_depth++;
    return ctx;
  }
  const char* name = fn.name();
  // Our CPU transposed convolution (conv_transpose.cc) and Winograd convolution
  // (conv_winograd.cc): each counted as one, whatever it calls.
  bool ourConvT = Is(name, "ganforge::conv_transpose2d");
  bool ourConvTBack = Is(name, "ganforge::conv_transpose2d_backward");
  bool ourWino = Is(name, "ganforge::conv2d_winograd");
  bool ourWinoBack = Is(name, "ganforge::conv2d_winograd_backward");
  if (ourConvT || ourConvTBack || ourWino || ourWinoBack) {
    ctx->counted = true;
    if (t_counted_depth++ > 0) return ctx;
    ctx->backward = t_backward_depth > 0;
    // (t, w) forward; (t, w, number of gradients computed) backward, where t has one element
    // per multiply-add row: the transposed convolution's input, the convolution's output.
    auto in = fn.inputs();
    auto* t = TensorAt(in, 0);
    auto* w = TensorAt(in, 1);
    if (t && w && w->dim() >= 3) {
      Kind kind = ourConvT || ourConvTBack ? kConvT : kConv;
      int64_t macs = t->numel() * w->size(1) * Prod(w->sizes(), 2);
      if (ourConvT || ourWino) Add(ctx->backward, kind, macs);
      else if (in.size() > 2 && in[2].isInt()) Add(true, kind, macs * in[2].toInt());
    }
    return ctx;
  }
  if (std::strncmp(name, "aten::", 6) != 0) return nullptr;
  const char* op = name + 6;
  bool conv = Is(op, "convolution") || Is(op, "_convolution");
  bool convBack = Is(op, "convolution_backward");
  bool mm = Is(op, "mm") || Is(op, "addmm") || Is(op, "bmm") || Is(op, "baddbmm") || Is(op, "mv") || Is(op, "addmv");
  if (!conv && !convBack && !mm) return nullptr;
  ctx->counted = true;
  if (t_counted_depth++ > 0) return ctx;  // nested: the outer op counts it
  ctx->backward = t_backward_depth > 0;
  // An argument of an unexpected kind (another libtorch version) must not leave the depth
  // counted above unbalanced: the op is then not counted, and the end callback still runs.
  try {
    Count(fn, ctx.get(), op, conv, convBack);
  } catch (...) {
    ctx->convForward = false;
  }
  return ctx;
}

void Count(const at::RecordFunction& fn, Ctx* ctx, const char* op, bool conv, bool convBack) {
  auto in = fn.inputs();
  if (conv) {
    // (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, ...)
    auto* x = TensorAt(in, 0);
    auto* w = TensorAt(in, 1);
    if (!x || !w || in.size() < 9 || w->dim() < 3) return;
    int64_t perElement = w->size(1) * Prod(w->sizes(), 2);
    if (in[6].toBool()) {
      Add(ctx->backward, kConvT, x->numel() * perElement);
    } else {
      ctx->convForward = true;
      ctx->perOutput = perElement;
    }
  } else if (convBack) {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, output_mask)
    auto* gy = TensorAt(in, 0);
    auto* x = TensorAt(in, 1);
    auto* w = TensorAt(in, 2);
    if (!gy || !x || !w || in.size() < 11 || w->dim() < 3) return;
    bool transposed = in[7].toBool();
    auto mask = in[10].toBoolList();
    int64_t grads = (mask.get(0) ? 1 : 0) + (mask.get(1) ? 1 : 0);
    int64_t forward = (transposed ? x->numel() : gy->numel()) * w->size(1) * Prod(w->sizes(), 2);
    // A convolution's backward is backward work even when called outside an autograd node.
    Add(true, transposed ? kConvT : kConv, forward * grads);
  } else {
    // mm(a, b), bmm(a, b), mv(a, v); addmm, baddbmm and addmv take the added term first.
    size_t first = Is(op, "addmm") || Is(op, "baddbmm") || Is(op, "addmv") ? 1 : 0;
    auto* a = TensorAt(in, first);
    auto* b = TensorAt(in, first + 1);
    if (!a || !b || a->dim() < 2) return;
    int64_t n = b->dim() >= 2 ? b->size(-1) : 1;
    Add(ctx->backward, kMatmul, a->numel() * n);  // a holds [B,] M × K
  }
}

void OnEnd(const at::RecordFunction& fn, at::ObserverContext* base) {
  auto* ctx = static_cast<Ctx*>(base);
  if (!ctx) return;
  if (ctx->backwardNode) {
    t_backward_depth--;
    return;
  }
  if (!ctx->counted) return;
  t_counted_depth--;
  if (ctx->convForward) {
    const auto& out = fn.outputs();
    if (!out.empty() && out[0].isTensor()) Add(ctx->backward, kConv, out[0].toTensor().numel() * ctx->perOutput);
  }
}

void Reset() {
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < kKinds; k++) g_macs[b][k] = 0, g_calls[b][k] = 0;
}

}  // namespace

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

// Starts counting on this thread (from zero).
static Napi::Value flopCounterStart(INFO) {
  if (g_handle) throw Napi::Error::New(ENV, "a FLOP count is already running (counts do not nest)");
  Reset();
  t_counted_depth = 0;
  t_backward_depth = 0;
  g_handle = at::addThreadLocalCallback(at::RecordFunctionCallback(OnStart, OnEnd)
                                            .needsInputs(true)
                                            .needsOutputs(true)
                                            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  return ENV.Undefined();
}

// Stops counting; returns { forward: {conv, convTranspose, matmul}, backward: {...} } in
// FLOPs, and the calls counted (same shape) under `calls`.
static Napi::Value flopCounterStop(INFO) {
  if (!g_handle) throw Napi::Error::New(ENV, "no FLOP count is running");
  at::removeCallback(g_handle);
  g_handle = 0;
  auto env = ENV;
  auto group = [&](std::atomic<int64_t> (*table)[kKinds], double scale) {
    auto out = Napi::Object::New(env);
    const char* names[2] = {"forward", "backward"};
    for (int b = 0; b < 2; b++) {
      auto o = Napi::Object::New(env);
      o.Set("conv", static_cast<double>(table[b][kConv].load()) * scale);
      o.Set("convTranspose", static_cast<double>(table[b][kConvT].load()) * scale);
      o.Set("matmul", static_cast<double>(table[b][kMatmul].load()) * scale);
      out.Set(names[b], o);
    }
    return out;
  };
  auto result = group(g_macs, 2.0);
  result.Set("calls", group(g_calls, 1.0));
  return result;
}

void InitFlops(Napi::Env env, Napi::Object exports) {
  GF_EXPORT(exports, flopCounterStart);
  GF_EXPORT(exports, flopCounterStop);
}

}  // namespace gf
