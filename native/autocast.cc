// Mixed precision: libtorch's own autocast (the AutocastCPU / AutocastCUDA dispatch keys),
// switched on and off per thread from JS, plus the policy decisions libtorch 1.13's CPU
// op list leaves out.
//
// libtorch 1.13's CPU list lowers conv1d/2d/3d, mm, bmm, addmm, baddbmm, addbmm and linear
// to the autocast type and keeps batch/instance/group norm, BCE, MSE, softplus, pooling,
// upsampling and padding in fp32; every op it does not list runs in whatever type its
// inputs have. For the ops GAN training leans on it decides too little, so this file adds,
// only while autocast is on for the CPU:
//  - fp32: sum, mean, var, std, norm, logsumexp (reductions: a bf16 accumulator has 8
//    bits), softmax, log_softmax, layer_norm and l1_loss, as the CUDA list has them;
//  - promote: lerp (two inputs, one of them a bf16 activation and the other an fp32 one or
//    a buffer, must agree: it has no type promotion of its own);
//  - conv_transpose2d in the autocast type: libtorch 1.13's own bf16 transposed
//    convolution on the CPU is broken (oneDNN's path checks the weight as a forward
//    convolution's and refuses every shape; the im2col path has no bf16 kernel: PyTorch
//    1.13 itself fails `torch.conv_transpose2d(x.bfloat16(), w.bfloat16())`), so ours
//    (conv_transpose.cc, a convolution's input gradient, which oneDNN runs in bf16) casts
//    its inputs itself.
// l1_loss is already in 1.13's fp32 list.
// The extra kernels are registered when autocast is first switched on, not at load: an
// addon merely loaded changes nothing in the process.
#include "common.h"

#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <mutex>

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

namespace {

constexpr c10::DeviceType kCpu = c10::DeviceType::CPU;

template <class Op, class Sig = typename Op::schema>
struct Fp32;
// Runs the op with every floating-point tensor argument in fp32 (bf16 activations are
// cast up; fp32 and integer tensors pass as they are).
template <class Op, class... Args>
struct Fp32<Op, at::Tensor(Args...)> {
  static at::Tensor call(Args... args) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    return Op::call(at::autocast::cached_cast(at::kFloat, args, kCpu)...);
  }
};

template <class Op, class Sig = typename Op::schema>
struct Promote;
// Runs the op with its floating-point tensors in the widest type among them.
template <class Op, class... Args>
struct Promote<Op, at::Tensor(Args...)> {
  static at::Tensor call(Args... args) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
    auto to = at::autocast::promote_type(at::autocast::get_autocast_cpu_dtype(), kCpu, args...);
    return Op::call(at::autocast::cached_cast(to, args, kCpu)...);
  }
};

template <class Op, class Kernel>
void Register(torch::Library& lib) {
  std::string name = Op::name;
  name = name.substr(name.find("::") + 2);
  std::string overload = Op::overload_name;
  if (!overload.empty()) name += "." + overload;
  lib.impl(name.c_str(), TORCH_FN((&Kernel::call)));
}

template <class Op>
void RegisterFp32(torch::Library& lib) { Register<Op, Fp32<Op>>(lib); }

std::mutex g_policy_mutex;
bool g_policy_registered = false;

// Registers the kernels above for AutocastCPU, once per process. The Library is never
// freed: its destructor would deregister them at exit, after libtorch's dispatcher may
// already be gone.
void RegisterPolicy() {
  std::lock_guard<std::mutex> lock(g_policy_mutex);
  if (g_policy_registered) return;
  auto* lib = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::AutocastCPU, __FILE__, __LINE__);
  RegisterFp32<at::_ops::sum>(*lib);
  RegisterFp32<at::_ops::sum_dim_IntList>(*lib);
  RegisterFp32<at::_ops::mean>(*lib);
  RegisterFp32<at::_ops::mean_dim>(*lib);
  RegisterFp32<at::_ops::var_correction>(*lib);
  RegisterFp32<at::_ops::std_correction>(*lib);
  RegisterFp32<at::_ops::norm_Scalar>(*lib);
  RegisterFp32<at::_ops::norm_ScalarOpt_dim>(*lib);
  RegisterFp32<at::_ops::logsumexp>(*lib);
  RegisterFp32<at::_ops::softmax_int>(*lib);
  RegisterFp32<at::_ops::log_softmax_int>(*lib);
  RegisterFp32<at::_ops::layer_norm>(*lib);
  Register<at::_ops::lerp_Scalar, Promote<at::_ops::lerp_Scalar>>(*lib);
  Register<at::_ops::lerp_Tensor, Promote<at::_ops::lerp_Tensor>>(*lib);
  g_policy_registered = true;
}

bool IsCuda(const std::string& device) {
  if (device == "cpu") return false;
  if (device == "cuda") return true;
  throw std::invalid_argument("autocast device type must be 'cpu' or 'cuda', got '" + device + "'");
}

bool Enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
at::ScalarType Type(bool cuda) { return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype(); }
void Set(bool cuda, bool enabled, at::ScalarType t) {
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(t);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(t);
    at::autocast::set_cpu_enabled(enabled);
  }
}

}  // namespace

// (deviceType 'cpu'|'cuda', enabled, dtype name|null) -> [previous enabled, previous dtype name]
// As torch.autocast's __enter__: the state is per thread; nesting is counted so that the
// outermost exit drops the cache of casts of the weights.
static Napi::Value autocastEnter(INFO) {
  bool cuda = IsCuda(Str(info[0], "device type"));
  bool enabled = Bool(info[1]);
  auto prevEnabled = Enabled(cuda);
  auto prevType = Type(cuda);
  auto t = Given(info[2]) ? DType(info[2]) : prevType;
  if (enabled && t != at::kBFloat16 && (t != at::kHalf || !cuda))
    throw Napi::TypeError::New(ENV, std::string("autocast computes in ") + (cuda ? "bfloat16 or float16" : "bfloat16 on the CPU") + ", not " + DTypeName(t));
  if (enabled && !cuda) RegisterPolicy();
  Set(cuda, enabled, t);
  at::autocast::increment_nesting();
  auto out = Napi::Array::New(ENV, 2);
  out.Set(0u, Napi::Boolean::New(ENV, prevEnabled));
  out.Set(1u, Napi::String::New(ENV, DTypeName(prevType)));
  return out;
}

// (deviceType, previous enabled, previous dtype name): undoes autocastEnter.
static Napi::Value autocastExit(INFO) {
  bool cuda = IsCuda(Str(info[0], "device type"));
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  Set(cuda, Bool(info[1]), DType(info[2]));
  return ENV.Undefined();
}

// (deviceType) -> { enabled, dtype }
static Napi::Value autocastState(INFO) {
  bool cuda = IsCuda(Str(info[0], "device type"));
  auto o = Napi::Object::New(ENV);
  o.Set("enabled", Enabled(cuda));
  o.Set("dtype", DTypeName(Type(cuda)));
  return o;
}

void InitAutocast(Napi::Env env, Napi::Object e) {
  GF_EXPORT(e, autocastEnter); GF_EXPORT(e, autocastExit); GF_EXPORT(e, autocastState);
}

}  // namespace gf
