// c10d, PyTorch's own distributed engine, as a process group: a store (TCPStore for a job
// across machines, FileStore for one machine), Gloo for CPU tensors (and NCCL for CUDA
// ones where the build found its headers), and the collectives data parallelism needs.
// No training logic: the trainer decides what to reduce and when.
//
// Every collective waits at most the group's timeout: a dead or stuck peer becomes a JS
// error naming the operation, never a hang. The collectives run synchronously on the
// calling thread (a training step has nothing else to do meanwhile); the timeout is what
// bounds how long the event loop can be held.
#include "common.h"

#ifdef GF_C10D
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#endif

namespace gf {

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

#ifdef GF_C10D

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
  std::string backend;
};

// Groups by id: the differentiable all-reduce's backward finds its group here (autograd
// contexts hold plain values), and a destroyed group's id stops resolving.
std::mutex g_mu;
std::map<int64_t, std::shared_ptr<Group>> g_groups;
int64_t g_next = 1;

std::shared_ptr<Group> Find(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_groups.find(id);
  if (it == g_groups.end()) throw std::runtime_error("the process group was destroyed");
  return it->second;
}

std::shared_ptr<Group> GroupOf(const Napi::Value& v) { return Find(Int(v, "process group id")); }

// Waits for a collective within the group's timeout; a failure names the operation.
void Wait(Group& g, const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
  try {
    if (!work->wait(g.timeout)) throw std::runtime_error("timed out");
  } catch (const std::exception& e) {
    std::string why = FirstLine(e.what());
    std::ostringstream msg;
    msg << "c10d " << op << " failed on rank " << g.rank << " of " << g.size << " (timeout " << g.timeout.count() / 1000.0 << " s): " << why;
    throw std::runtime_error(msg.str());
  }
}

c10d::ReduceOp Op(const std::string& name) {
  if (name == "sum" || name == "avg") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  throw std::runtime_error("unknown reduce op '" + name + "' (sum, avg, max, min, product)");
}

// In place over `ts` (all of one dtype and device). Gloo has no AVG: a sum divided by the
// world size, the way torch.distributed's DDP averages.
void AllReduce(Group& g, std::vector<at::Tensor>& ts, const std::string& op) {
  c10d::AllreduceOptions o;
  o.reduceOp = Op(op);
  o.timeout = g.timeout;
  Wait(g, g.pg->allreduce(ts, o), "all_reduce");
  if (op == "avg")
    for (auto& t : ts) t.div_(g.size);
}

// The sum over ranks, differentiable: every rank's input contributes to every rank's
// output, so the gradient of each input is the sum over ranks of the output's gradients
// (an all-reduce in backward). Synchronised batch norm builds its statistics on it.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t id) {
    ctx->saved_data["group"] = id;
    std::vector<at::Tensor> ts{x.detach().clone().contiguous()};
    AllReduce(*Find(id), ts, "sum");
    return ts[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    std::vector<at::Tensor> ts{grads[0].detach().clone().contiguous()};
    AllReduce(*Find(ctx->saved_data["group"].toInt()), ts, "sum");
    return {ts[0], at::Tensor()};
  }
};

std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& host) {
  // As torch.distributed: GLOO_SOCKET_IFNAME picks the interface; a loopback job binds to
  // loopback; otherwise the address this machine's hostname resolves to.
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (host == "127.0.0.1" || host == "localhost") return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

// ({store: 'tcp'|'file', host, port, path, rank, size, timeoutMs, joinTimeoutMs?, backend: 'gloo'|'nccl', prefix}) -> id
static Napi::Value pgCreate(INFO) {
  auto o = info[0].As<Napi::Object>();
  auto g = std::make_shared<Group>();
  g->rank = static_cast<int>(Int(o.Get("rank"), "rank"));
  g->size = static_cast<int>(Int(o.Get("size"), "world size"));
  if (g->size < 1 || g->rank < 0 || g->rank >= g->size)
    throw Napi::RangeError::New(ENV, "rank " + std::to_string(g->rank) + " is not within a world of " + std::to_string(g->size));
  // Joining waits for the slowest rank to start (a process launch, a module load); the
  // collectives after it get their own, usually shorter, timeout.
  g->timeout = std::chrono::milliseconds(Int(o.Get("timeoutMs"), "timeout in ms"));
  auto join = Given(o.Get("joinTimeoutMs")) ? std::chrono::milliseconds(Int(o.Get("joinTimeoutMs"), "join timeout in ms")) : g->timeout;
  g->backend = Given(o.Get("backend")) ? Str(o.Get("backend"), "backend") : "gloo";
  auto kind = Str(o.Get("store"), "store kind");
  std::string host = "127.0.0.1";
  c10::intrusive_ptr<c10d::Store> base;
  if (kind == "tcp") {
    host = Str(o.Get("host"), "MASTER_ADDR");
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(Int(o.Get("port"), "MASTER_PORT"));
    so.isServer = g->rank == 0;
    so.numWorkers = g->size;
    so.timeout = join;
    base = c10::make_intrusive<c10d::TCPStore>(host, so);
  } else if (kind == "file") {
    base = c10::make_intrusive<c10d::FileStore>(Str(o.Get("path"), "store file"), g->size);
    base->setTimeout(join);
  } else {
    throw Napi::Error::New(ENV, "unknown store '" + kind + "' (tcp or file)");
  }
  // A prefix keeps several groups of one job (a retry, a test) apart in the same store.
  auto prefix = Given(o.Get("prefix")) ? Str(o.Get("prefix"), "prefix") : std::string("ganforge");
  g->store = c10::make_intrusive<c10d::PrefixStore>(prefix, base);
  if (g->backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(join);
    opts->devices.push_back(GlooDevice(host));
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, g->rank, g->size, opts);
  } else if (g->backend == "nccl") {
#ifdef USE_C10D_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = join;
    g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, g->rank, g->size, opts);
#else
    throw Napi::Error::New(ENV, "this addon was built without NCCL (it needs a CUDA libtorch and nccl.h at build time): use the gloo backend");
#endif
  } else {
    throw Napi::Error::New(ENV, "unknown backend '" + g->backend + "' (gloo or nccl)");
  }
  g->store->setTimeout(g->timeout);
  std::lock_guard<std::mutex> lock(g_mu);
  int64_t id = g_next++;
  g_groups[id] = g;
  return Napi::Number::New(ENV, static_cast<double>(id));
}

static Napi::Value pgDestroy(INFO) {
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_groups.find(Int(info[0], "process group id"));
    if (it == g_groups.end()) return ENV.Undefined();
    g = it->second;
    g_groups.erase(it);
  }
  return ENV.Undefined();
}

// (id, tensors[], op) in place
static Napi::Value pgAllReduce(INFO) {
  auto g = GroupOf(info[0]);
  auto ts = TList(info[1]);
  AllReduce(*g, ts, Str(info[2], "reduce op"));
  return ENV.Undefined();
}

// (id, tensor) -> the differentiable sum over ranks (a new tensor)
static Napi::Value pgAllReduceSumGrad(INFO) {
  auto g = GroupOf(info[0]);
  return Wrap(ENV, AllReduceSum::apply(T(info[1]), Int(info[0])));
}

// (id, tensors[], root) in place
static Napi::Value pgBroadcast(INFO) {
  auto g = GroupOf(info[0]);
  auto ts = TList(info[1]);
  c10d::BroadcastOptions o;
  o.rootRank = static_cast<int64_t>(Int(info[2], "root rank"));
  o.timeout = g->timeout;
  Wait(*g, g->pg->broadcast(ts, o), "broadcast");
  return ENV.Undefined();
}

// (id, tensor) -> one tensor per rank, in rank order
static Napi::Value pgAllGather(INFO) {
  auto g = GroupOf(info[0]);
  auto t = T(info[1]).contiguous();
  std::vector<at::Tensor> in{t};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g->size; r++) out[0].push_back(at::empty_like(t));
  c10d::AllgatherOptions o;
  o.timeout = g->timeout;
  Wait(*g, g->pg->allgather(out, in, o), "all_gather");
  return WrapList(ENV, out[0]);
}

static Napi::Value pgBarrier(INFO) {
  auto g = GroupOf(info[0]);
  c10d::BarrierOptions o;
  o.timeout = g->timeout;
  Wait(*g, g->pg->barrier(o), "barrier");
  return ENV.Undefined();
}

// Small strings through the store (what a rank is, where it runs): (id, key, value)
static Napi::Value pgStoreSet(INFO) {
  auto g = GroupOf(info[0]);
  auto v = Str(info[2], "value");
  g->store->set(Str(info[1], "key"), std::vector<uint8_t>(v.begin(), v.end()));
  return ENV.Undefined();
}

// (id, key, timeoutMs) -> string (waits up to the timeout for the key)
static Napi::Value pgStoreGet(INFO) {
  auto g = GroupOf(info[0]);
  auto key = Str(info[1], "key");
  g->store->wait({key}, std::chrono::milliseconds(Int(info[2], "timeout in ms")));
  auto v = g->store->get(key);
  return Napi::String::New(ENV, std::string(v.begin(), v.end()));
}

static Napi::Value c10dInfo(INFO) {
  auto o = Napi::Object::New(ENV);
  o.Set("gloo", true);
#ifdef USE_C10D_NCCL
  o.Set("nccl", true);
#else
  o.Set("nccl", false);
#endif
  return o;
}

void InitDistributed(Napi::Env env, Napi::Object exports) {
  GF_EXPORT(exports, c10dInfo);
  GF_EXPORT(exports, pgCreate);
  GF_EXPORT(exports, pgDestroy);
  GF_EXPORT(exports, pgAllReduce);
  GF_EXPORT(exports, pgAllReduceSumGrad);
  GF_EXPORT(exports, pgBroadcast);
  GF_EXPORT(exports, pgAllGather);
  GF_EXPORT(exports, pgBarrier);
  GF_EXPORT(exports, pgStoreSet);
  GF_EXPORT(exports, pgStoreGet);
}

#else  // built without the gloo headers

static Napi::Value c10dInfo(INFO) {
  auto o = Napi::Object::New(ENV);
  o.Set("gloo", false);
  o.Set("nccl", false);
  return o;
}

void InitDistributed(Napi::Env env, Napi::Object exports) { GF_EXPORT(exports, c10dInfo); }

#endif

}  // namespace gf
