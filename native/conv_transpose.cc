// Transposed convolution on the CPU as the input gradient of the convolution it transposes.
//
// libtorch 1.13 runs a CPU conv_transpose2d through im2col and a GEMM
// (slow_conv_transpose2d) for its forward and its weight gradient, while the very same sums,
// computed as a convolution's input gradient, go through oneDNN's backward-data kernel:
// 1.2–4.5× faster for the shapes of DCGAN, pix2pix and StyleGAN2 (k4 s2 p1 and k3 s2, 2
// threads; /usr/bin/python3 with torch.ops.aten.convolution_backward). So the forward is
// convolution_backward's input gradient, and its own gradients are a convolution (for the
// input) and convolution_backward's weight gradient with the roles of input and output
// swapped: oneDNN for all three. Both are ops with derivatives of their own, so a
// create_graph backward (path length, R1 through a generator) differentiates again.
//
// FLOP counting (flops.cc) sees this as "ganforge::conv_transpose2d" (forward) and
// "ganforge::conv_transpose2d_backward", counted as transposed-convolution work as before.
#include "common.h"

#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

namespace gf {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

struct ConvTranspose2d : torch::autograd::Function<ConvTranspose2d> {
  // w: [in, out/groups, kh, kw], as conv_transpose2d's weight — which is the weight of the
  // transposed convolution (out channels ← in channels) read the other way.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, std::vector<int64_t> stride,
                            std::vector<int64_t> padding, std::vector<int64_t> outputPadding, int64_t groups,
                            std::vector<int64_t> dilation) {
    RECORD_FUNCTION("ganforge::conv_transpose2d", std::vector<c10::IValue>({x, w}));
    std::vector<int64_t> size = {x.size(0), w.size(1) * groups};
    for (int d = 0; d < 2; d++) {
      size.push_back((x.size(2 + d) - 1) * stride[d] - 2 * padding[d] + dilation[d] * (w.size(2 + d) - 1) + outputPadding[d] + 1);
    }
    // Only its shape (and memory format) is read: the convolution's input gradient.
    auto like = at::empty(size, x.options().memory_format(x.suggest_memory_format()));
    auto y = std::get<0>(at::convolution_backward(x, like, w, c10::nullopt, stride, padding, dilation, false, {0, 0},
                                                  groups, {true, false, false}));
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    int64_t computed = (ctx->needs_input_grad(0) ? 1 : 0) + (ctx->needs_input_grad(1) ? 1 : 0);
    RECORD_FUNCTION("ganforge::conv_transpose2d_backward", std::vector<c10::IValue>({x, w, computed}));
    auto stride = ctx->saved_data["stride"].toIntVector();
    auto padding = ctx->saved_data["padding"].toIntVector();
    auto dilation = ctx->saved_data["dilation"].toIntVector();
    auto groups = ctx->saved_data["groups"].toInt();
    const auto& gy = grads[0];
    at::Tensor gx, gw;
    if (ctx->needs_input_grad(0)) gx = at::convolution(gy, w, c10::nullopt, stride, padding, dilation, false, {0, 0}, groups);
    if (ctx->needs_input_grad(1)) {
      gw = std::get<1>(at::convolution_backward(x, gy, w, c10::nullopt, stride, padding, dilation, false, {0, 0}, groups,
                                                {false, true, false}));
    }
    return {gx, gw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

static at::Tensor Run(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                      at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef outputPadding, int64_t groups,
                      at::IntArrayRef dilation) {
  // Elsewhere (CUDA, batches without a batch dimension, other layouts) libtorch's own op.
  if (!x.device().is_cpu() || x.dim() != 4 || w.dim() != 4 || x.layout() != at::kStrided || stride.size() != 2 ||
      padding.size() != 2 || outputPadding.size() != 2 || dilation.size() != 2 || x.scalar_type() != w.scalar_type() ||
      (bias && bias->defined() && bias->scalar_type() != x.scalar_type())) {
    return at::conv_transpose2d(x, w, bias, stride, padding, outputPadding, groups, dilation);
  }
  // Arguments libtorch's op would refuse: let it refuse them, in its words.
  bool valid = groups > 0 && x.size(1) == w.size(0) && w.size(0) % groups == 0;
  for (int d = 0; d < 2; d++) {
    valid = valid && stride[d] > 0 && dilation[d] > 0 && padding[d] >= 0 && outputPadding[d] >= 0 &&
            outputPadding[d] < std::max(stride[d], dilation[d]);
  }
  if (!valid) return at::conv_transpose2d(x, w, bias, stride, padding, outputPadding, groups, dilation);
  auto y = ConvTranspose2d::apply(x, w, stride.vec(), padding.vec(), outputPadding.vec(), groups, dilation.vec());
  if (bias && bias->defined()) y = y.add(bias->view({1, -1, 1, 1}));
  return y;
}

at::Tensor ConvTranspose2dCpu(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef outputPadding,
                              int64_t groups, at::IntArrayRef dilation) {
  // Under CPU autocast (torch.autocast) the op is one of the lower-precision ones: cast as
  // autocast would (float64 is left alone, as autocast leaves it), then run with autocast's
  // dispatch off (nothing inside needs it).
  if (at::autocast::is_cpu_enabled() && x.device().is_cpu() && at::isFloatingType(x.scalar_type()) &&
      x.scalar_type() != at::kDouble) {
    auto dt = at::autocast::get_autocast_cpu_dtype();
    c10::impl::ExcludeDispatchKeyGuard off(c10::DispatchKey::AutocastCPU);
    constexpr auto cpu = c10::DeviceType::CPU;
    c10::optional<at::Tensor> b;
    if (bias && bias->defined()) b = at::autocast::cached_cast(dt, *bias, cpu);
    // cached_cast: a weight's cast is made once while the outermost autocast lasts.
    return Run(at::autocast::cached_cast(dt, x, cpu), at::autocast::cached_cast(dt, w, cpu), b, stride, padding,
               outputPadding, groups, dilation);
  }
  return Run(x, w, bias, stride, padding, outputPadding, groups, dilation);
}

}  // namespace gf
