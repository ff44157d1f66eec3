// Neural-network ops: convolutions, pooling, resampling, padding, activations,
// normalisations, embedding, dropout and losses.
#include "common.h"

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

static int64_t Reduction(const Napi::Value& v) {
  if (!Given(v)) return at::Reduction::Mean;
  auto s = Str(v, "reduction ('mean', 'sum' or 'none')");
  if (s == "mean") return at::Reduction::Mean;
  if (s == "sum") return at::Reduction::Sum;
  if (s == "none") return at::Reduction::None;
  throw Napi::TypeError::New(v.Env(), "unknown reduction '" + s + "' (expected 'mean', 'sum' or 'none')");
}

// (x, w, b?, stride[], padding[], dilation[], groups)
static Napi::Value conv2d(INFO) {
  return Wrap(ENV, Conv2dCpu(T(info[0]), T(info[1]), OptT(info[2]), Ints(info[3]), Ints(info[4]), Ints(info[5]),
                             Int(info[6])));
}
// (x, outChannels, h, w, padding, bias)
static Napi::Value conv3x3Winograd(INFO) {
  return Napi::Boolean::New(ENV, Conv3x3Winograd(T(info[0]), Int(info[1]), Int(info[2]), Int(info[3]), Int(info[4]), Bool(info[5])));
}
// (x, w, b?, stride[], padding[], output_padding[], groups, dilation[])
static Napi::Value convTranspose2d(INFO) {
  return Wrap(ENV, ConvTranspose2dCpu(T(info[0]), T(info[1]), OptT(info[2]), Ints(info[3]), Ints(info[4]),
                                      Ints(info[5]), Int(info[6]), Ints(info[7])));
}
// (x, weight, bias?)
static Napi::Value linear(INFO) { return Wrap(ENV, at::linear(T(info[0]), T(info[1]), OptT(info[2]))); }
// (x, kernel[], stride[], padding[], ceil_mode, count_include_pad, divisor?)
static Napi::Value avgPool2d(INFO) {
  c10::optional<int64_t> div;
  if (Given(info[6])) div = Int(info[6]);
  return Wrap(ENV, at::avg_pool2d(T(info[0]), Ints(info[1]), Ints(info[2]), Ints(info[3]), Bool(info[4]),
                                  Bool(info[5]), div));
}
// (x, kernel[], stride[], padding[], dilation[], ceil_mode)
static Napi::Value maxPool2d(INFO) {
  return Wrap(ENV, at::max_pool2d(T(info[0]), Ints(info[1]), Ints(info[2]), Ints(info[3]), Ints(info[4]),
                                  Bool(info[5])));
}
static Napi::Value adaptiveAvgPool2d(INFO) { return Wrap(ENV, at::adaptive_avg_pool2d(T(info[0]), Ints(info[1]))); }

// (x, size[2], mode, alignCorners, scales[2]|null). With a scale factor PyTorch computes
// the output size as floor(in × scale) and, unless align_corners, maps coordinates back
// with 1/scale rather than in/out; passing the scales on keeps us identical to it.
static Napi::Value interpolate(INFO) {
  auto& x = T(info[0]);
  auto size = Ints(info[1]);
  auto mode = Str(info[2], "interpolation mode");
  c10::optional<double> sh, sw;
  if (Given(info[4])) {
    auto arr = info[4].As<Napi::Array>();
    sh = Num(arr.Get(0u));
    sw = Num(arr.Get(1u));
  }
  if (x.dim() != 4) throw Napi::Error::New(ENV, "interpolate expects a 4-D NCHW tensor, got " + c10::str(x.sizes()));
  if (mode == "nearest") return Wrap(ENV, at::upsample_nearest2d(x, size, sh, sw));
  if (mode == "bilinear") return Wrap(ENV, at::upsample_bilinear2d(x, size, Bool(info[3]), sh, sw));
  if (mode == "bicubic") return Wrap(ENV, at::upsample_bicubic2d(x, size, Bool(info[3]), sh, sw));
  if (mode == "area") return Wrap(ENV, at::adaptive_avg_pool2d(x, size));
  throw Napi::TypeError::New(ENV, "unknown interpolation mode '" + mode + "' (nearest, bilinear, bicubic, area)");
}

// (x, pads[] as in F.pad: last dim first, mode, value)
static Napi::Value pad(INFO) {
  auto& x = T(info[0]);
  auto p = Ints(info[1]);
  auto mode = Str(info[2], "padding mode");
  if (mode == "constant") return Wrap(ENV, at::constant_pad_nd(x, p, Given(info[3]) ? Scl(info[3]) : at::Scalar(0)));
  if (p.size() != 4 || (x.dim() != 4 && x.dim() != 3))
    throw Napi::Error::New(ENV, mode + " padding needs 4 pad values and a 3-D or 4-D input, got " +
                                    std::to_string(p.size()) + " values and shape " + c10::str(x.sizes()));
  if (mode == "reflect") return Wrap(ENV, at::reflection_pad2d(x, p));
  if (mode == "replicate") return Wrap(ENV, at::replication_pad2d(x, p));
  throw Napi::TypeError::New(ENV, "unknown padding mode '" + mode + "' (constant, reflect, replicate)");
}

// ---- activations ----
static Napi::Value relu(INFO) { return Wrap(ENV, at::relu(T(info[0]))); }
static Napi::Value leakyRelu(INFO) { return Wrap(ENV, at::leaky_relu(T(info[0]), Scl(info[1]))); }
// In-place activations (PyTorch's inplace=True): no new buffer for the output.
static Napi::Value relu_(INFO) {
  at::relu_(T(info[0]));
  return ENV.Undefined();
}
static Napi::Value leakyRelu_(INFO) {
  at::leaky_relu_(T(info[0]), Scl(info[1]));
  return ENV.Undefined();
}
static Napi::Value tanh(INFO) { return Wrap(ENV, at::tanh(T(info[0]))); }
static Napi::Value sigmoid(INFO) { return Wrap(ENV, at::sigmoid(T(info[0]))); }
static Napi::Value softplus(INFO) { return Wrap(ENV, at::softplus(T(info[0]), Scl(info[1]), Scl(info[2]))); }
static Napi::Value gelu(INFO) { return Wrap(ENV, at::gelu(T(info[0]))); }
static Napi::Value silu(INFO) { return Wrap(ENV, at::silu(T(info[0]))); }
static Napi::Value elu(INFO) { return Wrap(ENV, at::elu(T(info[0]), Scl(info[1]))); }
static Napi::Value softmax(INFO) { return Wrap(ENV, at::softmax(T(info[0]), Int(info[1]))); }
static Napi::Value logSoftmax(INFO) { return Wrap(ENV, at::log_softmax(T(info[0]), Int(info[1]))); }
// (x, p, train)
static Napi::Value dropout(INFO) { return Wrap(ENV, at::dropout(T(info[0]), Num(info[1]), Bool(info[2]))); }

// ---- normalisation ----
// (x, weight?, bias?, running_mean?, running_var?, training, momentum, eps)
static Napi::Value batchNorm(INFO) {
  return Wrap(ENV, at::batch_norm(T(info[0]), OptT(info[1]), OptT(info[2]), OptT(info[3]), OptT(info[4]),
                                  Bool(info[5]), Num(info[6]), Num(info[7]), /*cudnn_enabled=*/true));
}
// (x, weight?, bias?, running_mean?, running_var?, use_input_stats, momentum, eps)
static Napi::Value instanceNorm(INFO) {
  return Wrap(ENV, at::instance_norm(T(info[0]), OptT(info[1]), OptT(info[2]), OptT(info[3]), OptT(info[4]),
                                     Bool(info[5]), Num(info[6]), Num(info[7]), /*cudnn_enabled=*/true));
}
// (x, groups, weight?, bias?, eps)
static Napi::Value groupNorm(INFO) {
  return Wrap(ENV, at::group_norm(T(info[0]), Int(info[1]), OptT(info[2]), OptT(info[3]), Num(info[4]), true));
}
// (x, normalized_shape[], weight?, bias?, eps)
static Napi::Value layerNorm(INFO) {
  return Wrap(ENV, at::layer_norm(T(info[0]), Ints(info[1]), OptT(info[2]), OptT(info[3]), Num(info[4]), true));
}
// (weight, indices)
static Napi::Value embedding(INFO) { return Wrap(ENV, at::embedding(T(info[0]), T(info[1]))); }

// ---- losses: (input, target, ..., reduction) ----
// (logits, target, weight?, pos_weight?, reduction)
static Napi::Value bceWithLogits(INFO) {
  return Wrap(ENV, at::binary_cross_entropy_with_logits(T(info[0]), T(info[1]), OptT(info[2]), OptT(info[3]),
                                                        Reduction(info[4])));
}
static Napi::Value mseLoss(INFO) { return Wrap(ENV, at::mse_loss(T(info[0]), T(info[1]), Reduction(info[2]))); }
static Napi::Value l1Loss(INFO) { return Wrap(ENV, at::l1_loss(T(info[0]), T(info[1]), Reduction(info[2]))); }
// (logits, target class indices, weight?, reduction, label_smoothing)
static Napi::Value crossEntropy(INFO) {
  return Wrap(ENV, at::cross_entropy_loss(T(info[0]), T(info[1]), OptT(info[2]), Reduction(info[3]), -100,
                                          Given(info[4]) ? Num(info[4]) : 0.0));
}
static Napi::Value nllLoss(INFO) {
  return Wrap(ENV, at::nll_loss(T(info[0]), T(info[1]), OptT(info[2]), Reduction(info[3]), -100));
}

void InitNNOps(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, linear); GF_EXPORT(e, conv2d); GF_EXPORT(e, conv3x3Winograd); GF_EXPORT(e, convTranspose2d); GF_EXPORT(e, avgPool2d); GF_EXPORT(e, maxPool2d);
  GF_EXPORT(e, adaptiveAvgPool2d); GF_EXPORT(e, interpolate); GF_EXPORT(e, pad);
  GF_EXPORT(e, relu); GF_EXPORT(e, leakyRelu); GF_EXPORT(e, relu_); GF_EXPORT(e, leakyRelu_); GF_EXPORT(e, tanh); GF_EXPORT(e, sigmoid); GF_EXPORT(e, softplus);
  GF_EXPORT(e, gelu); GF_EXPORT(e, silu); GF_EXPORT(e, elu); GF_EXPORT(e, softmax); GF_EXPORT(e, logSoftmax);
  GF_EXPORT(e, dropout);
  GF_EXPORT(e, batchNorm); GF_EXPORT(e, instanceNorm); GF_EXPORT(e, groupNorm); GF_EXPORT(e, layerNorm);
  GF_EXPORT(e, embedding);
  GF_EXPORT(e, bceWithLogits); GF_EXPORT(e, mseLoss); GF_EXPORT(e, l1Loss); GF_EXPORT(e, crossEntropy);
  GF_EXPORT(e, nllLoss);
}

}  // namespace gf
