// grid_sample with gradients of any order with respect to its input, and affine_grid.
//
// libtorch 1.13 has no derivative for aten::grid_sampler_2d_backward, so a second
// backward through grid_sample (R1 through ADA's geometric augmentations) fails there. For a
// fixed grid the op is linear in its input, out = A(grid)·input; its input gradient is
// Aᵀ·grad_output, whose derivative with respect to grad_output is A again: the forward op
// on the incoming gradient. Both directions are wrapped as custom autograd functions, so
// any order works. Beyond first order nothing involving a grid that requires a gradient is
// supported (the augmentations never need it: their grids are built from random draws),
// as stylegan3's torch_utils/ops/grid_sample_gradfix.py refuses it.
#include "common.h"

#include <ATen/ops/affine_grid_generator.h>
#include <ATen/ops/grid_sampler_2d.h>
#include <ATen/ops/grid_sampler_2d_backward.h>
#include <torch/csrc/autograd/custom_function.h>

namespace gf {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The integer codes of aten::grid_sampler_2d.
static int64_t ModeCode(const std::string& s) {
  if (s == "bilinear") return 0;
  if (s == "nearest") return 1;
  if (s == "bicubic") return 2;
  throw std::invalid_argument("unknown grid_sample mode '" + s + "' (bilinear, nearest, bicubic)");
}
static int64_t PaddingCode(const std::string& s) {
  if (s == "zeros") return 0;
  if (s == "border") return 1;
  if (s == "reflection") return 2;
  throw std::invalid_argument("unknown grid_sample padding mode '" + s + "' (zeros, border, reflection)");
}

struct GridSample : torch::autograd::Function<GridSample> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& grid, int64_t mode,
                            int64_t padding, bool align) {
    ctx->save_for_backward({input, grid});
    ctx->saved_data["mode"] = mode;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["align"] = align;
    return at::grid_sampler_2d(input, grid, mode, padding, align);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// grad_output ↦ grad_input = Aᵀ·grad_output (the input itself only gives the shape).
struct GridSampleInputGrad : torch::autograd::Function<GridSampleInputGrad> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& input,
                            const at::Tensor& grid, int64_t mode, int64_t padding, bool align) {
    ctx->save_for_backward({grid});
    ctx->saved_data["mode"] = mode;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["align"] = align;
    return std::get<0>(at::grid_sampler_2d_backward(grad_output, input, grid, mode, padding, align, {true, false}));
  }
  // Only used while the grid needs no gradient (see GridSample::backward), so none is owed to it.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto grid = ctx->get_saved_variables()[0];
    at::Tensor gg;
    // A gradient of grad_input flows back to grad_output through A; the input gets none
    // (grad_input does not depend on it: the op is linear).
    if (ctx->needs_input_grad(0) && grads[0].defined())
      gg = GridSample::apply(grads[0], grid, ctx->saved_data["mode"].toInt(), ctx->saved_data["padding"].toInt(),
                             ctx->saved_data["align"].toBool());
    return {gg, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

variable_list GridSample::backward(AutogradContext* ctx, variable_list grads) {
  auto saved = ctx->get_saved_variables();
  auto &input = saved[0], &grid = saved[1];
  auto mode = ctx->saved_data["mode"].toInt();
  auto padding = ctx->saved_data["padding"].toInt();
  auto align = ctx->saved_data["align"].toBool();
  at::Tensor gi, gg;
  if (ctx->needs_input_grad(1)) {
    // The grid's gradient depends on the input and the grid non-linearly: first order
    // only, by ATen's own backward (a second derivative through it fails in libtorch with
    // "the derivative for 'grid_sampler_2d_backward' is not implemented").
    auto r = at::grid_sampler_2d_backward(grads[0], input, grid, mode, padding, align, {ctx->needs_input_grad(0), true});
    gi = std::get<0>(r);
    gg = std::get<1>(r);
  } else if (ctx->needs_input_grad(0)) {
    gi = GridSampleInputGrad::apply(grads[0], input, grid, mode, padding, align);
  }
  return {gi, gg, at::Tensor(), at::Tensor(), at::Tensor()};
}

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

// (input [N,C,H,W], grid [N,Ho,Wo,2], mode, padding_mode, align_corners)
static Napi::Value gridSample(INFO) {
  auto& x = T(info[0]);
  auto& g = T(info[1], "grid");
  if (x.dim() != 4 || g.dim() != 4 || g.size(3) != 2 || g.size(0) != x.size(0))
    throw Napi::Error::New(ENV, "grid_sample expects input [N,C,H,W] and grid [N,Ho,Wo,2], got " + c10::str(x.sizes()) +
                                    " and " + c10::str(g.sizes()));
  return Wrap(ENV, GridSample::apply(x, g, ModeCode(Str(info[2], "mode")), PaddingCode(Str(info[3], "padding mode")),
                                     Bool(info[4])));
}

// (theta [N,2,3], size [N,C,H,W], align_corners)
static Napi::Value affineGrid(INFO) {
  auto& theta = T(info[0], "theta");
  auto size = Ints(info[1], "size");
  if (theta.dim() != 3 || theta.size(1) != 2 || theta.size(2) != 3 || size.size() != 4 || size[0] != theta.size(0))
    throw Napi::Error::New(ENV, "affine_grid expects theta [N,2,3] and a size [N,C,H,W] with the same N, got " +
                                    c10::str(theta.sizes()) + " and " + c10::str(size));
  return Wrap(ENV, at::affine_grid_generator(theta, size, Bool(info[2])));
}

void InitGridSample(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, gridSample); GF_EXPORT(e, affineGrid);
}

}  // namespace gf
