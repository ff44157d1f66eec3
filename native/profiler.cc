// libtorch's own profiler (torch::autograd::profiler, the Kineto-era API of 1.13): every
// ATen op and autograd node this thread runs, with start, duration and (optionally) input
// shapes — what torch.profiler records in Python. The trace is written by
// ProfilerResult::save (Kineto's Chrome-trace writer, with GPU kernels on a CUDA build)
// where libtorch was built with Kineto; Debian's libtorch 1.13 was not (save raises
// "requires ... USE_KINETO=1") yet records the ops all the same, so the events always come
// back to JS, which writes the trace itself when libtorch could not (as PyTorch's Python
// side falls back to its own writer).
#include "common.h"

#include <torch/csrc/autograd/profiler_kineto.h>

namespace gf {

namespace prof = torch::autograd::profiler;

#define INFO const Napi::CallbackInfo& info
#define ENV info.Env()

// (recordShapes): starts profiling this thread (and the autograd work it causes).
static Napi::Value profilerStart(INFO) {
  prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/Given(info[0]) && Bool(info[0]),
                              /*profile_memory=*/false, /*with_stack=*/false, /*with_flops=*/false, /*with_modules=*/false);
  std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
  if (at::hasCUDA()) activities.insert(prof::ActivityType::CUDA);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  return ENV.Undefined();
}

// (path | null): stops; returns { events, saved, saveError } where each event is
// { name, startUs (from the profile's start), durationUs, thread, device, shapes? } and
// `saved` says whether libtorch wrote the Chrome trace to `path` itself.
static Napi::Value profilerStop(INFO) {
  auto result = prof::disableProfiler();
  auto env = ENV;
  auto out = Napi::Object::New(env);
  bool saved = false;
  if (Given(info[0])) {
    try {
      result->save(Str(info[0], "trace path"));
      saved = true;
    } catch (const c10::Error& e) {
      out.Set("saveError", FirstLine(e.what_without_backtrace()));
    }
  }
  out.Set("saved", saved);
  const auto& events = result->events();
  auto arr = Napi::Array::New(env, events.size());
  uint64_t t0 = result->trace_start_us();
  for (size_t i = 0; i < events.size(); i++) {
    const auto& e = events[i];
    auto o = Napi::Object::New(env);
    o.Set("name", e.name());
    o.Set("startUs", static_cast<double>(e.startUs()) - static_cast<double>(t0));
    o.Set("durationUs", static_cast<double>(e.durationUs()));
    o.Set("thread", static_cast<double>(e.startThreadId()));
    o.Set("device", e.deviceType() == c10::DeviceType::CUDA ? "cuda" : "cpu");
    if (e.hasShapes()) {
      auto shapes = e.shapes();
      auto s = Napi::Array::New(env, shapes.size());
      for (size_t j = 0; j < shapes.size(); j++) {
        auto dims = Napi::Array::New(env, shapes[j].size());
        for (size_t k = 0; k < shapes[j].size(); k++) dims.Set(k, static_cast<double>(shapes[j][k]));
        s.Set(j, dims);
      }
      o.Set("shapes", s);
    }
    arr.Set(i, o);
  }
  out.Set("events", arr);
  return out;
}

void InitProfiler(Napi::Env env, Napi::Object exports) {
  GF_EXPORT(exports, profilerStart);
  GF_EXPORT(exports, profilerStop);
}

}  // namespace gf
