// 3×3 convolutions on the CPU by Winograd's minimal filtering, F(4×4, 3×3), through oneDNN.
//
// libtorch 1.13 runs every CPU convolution through oneDNN's direct algorithm. For a 3×3
// kernel at stride 1, Winograd's F(4×4, 3×3) computes each 4×4 output tile from a 6×6
// input tile with 36 multiplies per (input channel, output channel) pair instead of 144:
// oneDNN's jit_wino_4x3 kernel (AVX-512 only), timed as bare oneDNN primitives on the
// shapes of BigGAN, PGGAN, StyleGAN and CycleGAN (N 16–50, 32–512 channels, 8–64 px, 2
// threads of an EPYC), ran 1.6–4.2× faster than its direct kernel, forward, input gradient
// and weight gradient alike. Through this file, `npm run bench:engine` (32×128×16×16,
// forward and backward) took 11.8 ms against 20.9 ms with GANFORGE_WINOGRAD=0. The
// transforms of the weight cost about as much as a few tiles, so with few tiles per weight
// (a 4×4 map of 16 samples, one sample at 8×8) the direct kernel stays faster: those keep
// libtorch's op.
//
// The result differs from the direct sum by rounding only (the transforms' constants are
// exact in binary, their sums are not): relative errors of a few 1e-6 in float32, checked
// against float64 by test/engine-conv-winograd.test.ts. Only float32 takes this path;
// float64 (the parity tests) and bfloat16 (autocast) keep libtorch's op, as does every other
// shape, layout or device. GANFORGE_WINOGRAD=0 turns it off.
//
// Gradients: the input gradient and the weight gradient are oneDNN's Winograd backward
// kernels too. A backward that builds a graph (R1, path length: create_graph) takes
// libtorch's convolution_backward instead, which has derivatives of its own.
//
// FLOP counting (flops.cc) sees "ganforge::conv2d_winograd" (forward: output, weight) and
// "ganforge::conv2d_winograd_backward" (grad output, weight, gradients computed), counted as
// the direct convolution's multiply-adds, so fractions of the conv ceiling stay comparable.
#include "common.h"

#ifdef GF_ONEDNN
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <tuple>
#endif

namespace gf {

#ifdef GF_ONEDNN

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Below this many 4×4 output tiles per weight the transforms of the weight dominate and the
// direct kernel wins (measured: 16 tiles 0.8×, 50 tiles 1.2×, 64 tiles 1.75×).
constexpr int64_t kMinTiles = 48;

dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

bool Enabled() {
  static bool on = [] {
    const char* v = std::getenv("GANFORGE_WINOGRAD");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

// One convolution shape: its three Winograd primitives (null where oneDNN has none, e.g.
// without AVX-512), made once.
struct Plan {
  bool ok = false;
  bool bias = false;
  dnnl::memory::desc src, wei, dst;  // plain layouts (nchw, oihw)
  dnnl::convolution_forward::primitive_desc fwdPd;
  dnnl::convolution_forward fwd;
  std::unique_ptr<dnnl::convolution_backward_data> bwdData;
  dnnl::convolution_backward_data::primitive_desc bwdDataPd;
  std::unique_ptr<dnnl::convolution_backward_weights> bwdWeights;
  dnnl::convolution_backward_weights::primitive_desc bwdWeightsPd;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
std::mutex g_mutex;
std::map<Key, std::shared_ptr<Plan>> g_plans;

bool IsWino(const char* impl) { return impl && std::string(impl).find("wino") != std::string::npos; }

std::shared_ptr<Plan> MakePlan(int64_t N, int64_t C, int64_t K, int64_t H, int64_t W, int64_t ph, int64_t pw, bool bias) {
  auto plan = std::make_shared<Plan>();
  plan->bias = bias;
  dnnl::memory::dims src = {N, C, H, W}, wei = {K, C, 3, 3}, dst = {N, K, H + 2 * ph - 2, W + 2 * pw - 2};
  dnnl::memory::dims strides = {1, 1}, pad = {ph, pw};
  plan->src = dnnl::memory::desc(src, dt::f32, tag::nchw);
  plan->wei = dnnl::memory::desc(wei, dt::f32, tag::oihw);
  plan->dst = dnnl::memory::desc(dst, dt::f32, tag::nchw);
  dnnl::memory::desc anySrc(src, dt::f32, tag::any), anyWei(wei, dt::f32, tag::any), anyDst(dst, dt::f32, tag::any);
  auto alg = dnnl::algorithm::convolution_winograd;
  try {
    auto fd = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, anySrc, anyWei,
                                                     dnnl::memory::desc({K}, dt::f32, tag::x), anyDst, strides, pad, pad)
                   : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, anySrc, anyWei, anyDst,
                                                     strides, pad, pad);
    plan->fwdPd = dnnl::convolution_forward::primitive_desc(fd, Engine());
    if (!IsWino(plan->fwdPd.impl_info_str())) return plan;
    plan->fwd = dnnl::convolution_forward(plan->fwdPd);
    plan->ok = true;
  } catch (const dnnl::error&) {
    return plan;
  }
  // The backward kernels are optional: without one, that gradient is libtorch's.
  try {
    auto bd = dnnl::convolution_backward_data::desc(alg, anySrc, anyWei, anyDst, strides, pad, pad);
    plan->bwdDataPd = dnnl::convolution_backward_data::primitive_desc(bd, Engine(), plan->fwdPd);
    if (IsWino(plan->bwdDataPd.impl_info_str())) {
      plan->bwdData = std::make_unique<dnnl::convolution_backward_data>(plan->bwdDataPd);
    }
  } catch (const dnnl::error&) {
  }
  try {
    auto wd = dnnl::convolution_backward_weights::desc(alg, anySrc, anyWei, anyDst, strides, pad, pad);
    plan->bwdWeightsPd = dnnl::convolution_backward_weights::primitive_desc(wd, Engine(), plan->fwdPd);
    if (IsWino(plan->bwdWeightsPd.impl_info_str())) {
      plan->bwdWeights = std::make_unique<dnnl::convolution_backward_weights>(plan->bwdWeightsPd);
    }
  } catch (const dnnl::error&) {
  }
  return plan;
}

std::shared_ptr<Plan> PlanFor(int64_t N, int64_t C, int64_t K, int64_t H, int64_t W, int64_t ph, int64_t pw, bool bias) {
  Key key{N, C, K, H, W, ph, pw, bias};
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_plans.find(key);
  if (it != g_plans.end()) return it->second;
  auto plan = MakePlan(N, C, K, H, W, ph, pw, bias);
  g_plans.emplace(key, plan);
  return plan;
}

// The plan of a 3×3 stride-1 convolution with K filters of x's samples and channels at
// H×W (x's own size, or the size it is resampled to first), or null where the convolution
// keeps libtorch's op: turned off, under autocast, not a float32 NCHW CPU tensor, padding
// above 1, too few tiles, or no Winograd kernel on this CPU.
std::shared_ptr<Plan> WinogradPlan(const at::Tensor& x, int64_t K, int64_t H, int64_t W, int64_t ph, int64_t pw, bool bias) {
  if (!Enabled() || at::autocast::is_cpu_enabled() || !x.device().is_cpu() || x.layout() != at::kStrided ||
      x.dim() != 4 || x.scalar_type() != at::kFloat || x.suggest_memory_format() != at::MemoryFormat::Contiguous ||
      x.numel() == 0) {
    return nullptr;
  }
  if (ph < 0 || ph > 1 || pw < 0 || pw > 1 || H + 2 * ph < 3 || W + 2 * pw < 3) return nullptr;
  int64_t oh = H + 2 * ph - 2, ow = W + 2 * pw - 2;
  if (x.size(0) * ((oh + 3) / 4) * ((ow + 3) / 4) < kMinTiles) return nullptr;
  auto plan = PlanFor(x.size(0), x.size(1), K, H, W, ph, pw, bias);
  return plan->ok ? plan : nullptr;
}

dnnl::stream& Stream() {
  static dnnl::stream s(Engine());
  return s;
}

// Tensors of one call as oneDNN memory: each in its plain layout over the tensor's own
// storage (no copy), and in the layout the primitive wants (nChw16c for maps, its own for
// the weight) in one scratch tensor of the call (or the plain memory itself where the
// layouts agree). The scratch comes from ATen's allocator, so the malloc tuning of the
// command line (torch.tuneMalloc: large blocks stay on the heap) covers it too.
class Operands {
 public:
  struct Operand {
    dnnl::memory::desc plain, want;
    void* data;
    bool copyIn;
    dnnl::memory plainMem, wantMem;
  };

  void Add(const dnnl::memory::desc& plain, const dnnl::memory::desc& want, const at::Tensor& t, bool copyIn) {
    ops_.push_back({plain, want, t.data_ptr(), copyIn, {}, {}});
  }

  // Makes the memories (after every Add), and copies the inputs into their layouts.
  void Bind(const at::Tensor& like) {
    size_t total = 0;
    for (auto& o : ops_) {
      if (o.want != o.plain) total += Round(o.want.get_size());
    }
    if (total) scratch_ = at::empty({static_cast<int64_t>(total + kAlign)}, like.options().dtype(at::kByte));
    char* next = total ? Aligned(static_cast<char*>(scratch_.data_ptr())) : nullptr;
    for (auto& o : ops_) {
      o.plainMem = dnnl::memory(o.plain, Engine(), o.data);
      if (o.want == o.plain) {
        o.wantMem = o.plainMem;
        continue;
      }
      o.wantMem = dnnl::memory(o.want, Engine(), next);
      next += Round(o.want.get_size());
      if (o.copyIn) dnnl::reorder(o.plainMem, o.wantMem).execute(Stream(), o.plainMem, o.wantMem);
    }
  }

  const dnnl::memory& operator[](size_t i) const { return ops_[i].wantMem; }

  // Copies output i back into its tensor's plain layout, and waits for the stream.
  void Finish(size_t i) {
    auto& o = ops_[i];
    if (o.want != o.plain) dnnl::reorder(o.wantMem, o.plainMem).execute(Stream(), o.wantMem, o.plainMem);
    Stream().wait();
  }

 private:
  static constexpr size_t kAlign = 64;  // oneDNN's kernels load whole cache lines
  static size_t Round(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
  static char* Aligned(char* p) {
    return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + kAlign - 1) / kAlign * kAlign);
  }
  std::vector<Operand> ops_;
  at::Tensor scratch_;
};

at::Tensor Forward(const Plan& plan, const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  auto dims = plan.dst.dims();
  auto y = at::empty({dims[0], dims[1], dims[2], dims[3]}, x.options());
  RECORD_FUNCTION("ganforge::conv2d_winograd", std::vector<c10::IValue>({y, w}));
  Operands m;
  m.Add(plan.src, plan.fwdPd.src_desc(), x, true);
  m.Add(plan.wei, plan.fwdPd.weights_desc(), w, true);
  m.Add(plan.dst, plan.fwdPd.dst_desc(), y, false);
  m.Bind(x);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DST, m[2]}};
  at::Tensor bias;
  if (plan.bias) {
    bias = b->contiguous();
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(plan.fwdPd.bias_desc(), Engine(), bias.data_ptr()));
  }
  plan.fwd.execute(Stream(), args);
  m.Finish(2);
  return y;
}

at::Tensor BackwardData(const Plan& plan, const at::Tensor& gy, const at::Tensor& w) {
  auto dims = plan.src.dims();
  auto gx = at::empty({dims[0], dims[1], dims[2], dims[3]}, gy.options());
  Operands m;
  m.Add(plan.dst, plan.bwdDataPd.diff_dst_desc(), gy, true);
  m.Add(plan.wei, plan.bwdDataPd.weights_desc(), w, true);
  m.Add(plan.src, plan.bwdDataPd.diff_src_desc(), gx, false);
  m.Bind(gy);
  plan.bwdData->execute(Stream(), {{DNNL_ARG_DIFF_DST, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DIFF_SRC, m[2]}});
  m.Finish(2);
  return gx;
}

at::Tensor BackwardWeights(const Plan& plan, const at::Tensor& x, const at::Tensor& gy) {
  auto dims = plan.wei.dims();
  auto gw = at::empty({dims[0], dims[1], dims[2], dims[3]}, gy.options());
  Operands m;
  m.Add(plan.src, plan.bwdWeightsPd.src_desc(), x, true);
  m.Add(plan.dst, plan.bwdWeightsPd.diff_dst_desc(), gy, true);
  m.Add(plan.wei, plan.bwdWeightsPd.diff_weights_desc(), gw, false);
  m.Bind(gy);
  plan.bwdWeights->execute(Stream(), {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_DIFF_DST, m[1]}, {DNNL_ARG_DIFF_WEIGHTS, m[2]}});
  m.Finish(2);
  return gw;
}

struct Conv2dWinograd : torch::autograd::Function<Conv2dWinograd> {
  // The bias is optional (an undefined tensor cannot be a Function's input, an empty
  // optional can); with no bias there is no third input edge.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const c10::optional<at::Tensor>& bias, std::vector<int64_t> padding,
                            const std::shared_ptr<Plan>& plan) {
    auto y = Forward(*plan, x, w, bias);
    ctx->save_for_backward({x, w});
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["bias"] = bias.has_value();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    auto padding = ctx->saved_data["padding"].toIntVector();
    bool hasBias = ctx->saved_data["bias"].toBool();
    auto plan = PlanFor(x.size(0), x.size(1), w.size(0), x.size(2), x.size(3), padding[0], padding[1], hasBias);
    const auto gy = grads[0].contiguous();
    bool needX = ctx->needs_input_grad(0), needW = ctx->needs_input_grad(1);
    at::Tensor gx, gw, gb;
    if (hasBias && ctx->needs_input_grad(2)) gb = gy.sum({0, 2, 3});
    // A graph-building backward needs gradients that are differentiable themselves.
    bool graph = at::GradMode::is_enabled();
    bool oursX = needX && !graph && plan->bwdData;
    bool oursW = needW && !graph && plan->bwdWeights;
    if ((needX && !oursX) || (needW && !oursW)) {
      auto r = at::convolution_backward(gy, x, w, c10::nullopt, {1, 1}, padding, {1, 1}, false, {0, 0}, 1,
                                        {needX && !oursX, needW && !oursW, false});
      if (needX && !oursX) gx = std::get<0>(r);
      if (needW && !oursW) gw = std::get<1>(r);
    }
    if (oursX || oursW) {
      int64_t computed = (oursX ? 1 : 0) + (oursW ? 1 : 0);
      RECORD_FUNCTION("ganforge::conv2d_winograd_backward", std::vector<c10::IValue>({gy, w, computed}));
      if (oursX) gx = BackwardData(*plan, gy, w);
      if (oursW) gw = BackwardWeights(*plan, x, gy);
    }
    return {gx, gw, gb, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

#endif  // GF_ONEDNN

bool Conv3x3Winograd(const at::Tensor& x, int64_t outChannels, int64_t h, int64_t w, int64_t padding, bool bias) {
#ifdef GF_ONEDNN
  return WinogradPlan(x, outChannels, h, w, padding, padding, bias) != nullptr;
#else
  return false;
#endif
}

at::Tensor Conv2dCpu(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                     at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
#ifdef GF_ONEDNN
  bool hasBias = bias && bias->defined();
  bool fits = x.dim() == 4 && w.dim() == 4 && w.scalar_type() == at::kFloat && w.device().is_cpu() &&
              (!hasBias || (bias->scalar_type() == at::kFloat && bias->dim() == 1 && bias->size(0) == w.size(0))) &&
              groups == 1 && w.size(2) == 3 && w.size(3) == 3 && w.size(1) == x.size(1) && stride.size() == 2 &&
              stride[0] == 1 && stride[1] == 1 && dilation.size() == 2 && dilation[0] == 1 && dilation[1] == 1 &&
              padding.size() == 2;
  if (fits) {
    if (auto plan = WinogradPlan(x, w.size(0), x.size(2), x.size(3), padding[0], padding[1], hasBias)) {
      c10::optional<at::Tensor> b;
      if (hasBias) b = *bias;
      return Conv2dWinograd::apply(x.contiguous(), w.contiguous(), b, padding.vec(), plan);
    }
  }
#endif
  return at::conv2d(x, w, bias, stride, padding, dilation, groups);
}

}  // namespace gf
