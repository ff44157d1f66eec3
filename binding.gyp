{
  "targets": [
    {
      "target_name": "ganforge",
      "sources": [
        "native/addon.cc",
        "native/tensor.cc",
        "native/ops.cc",
        "native/nnops.cc",
        "native/autograd.cc",
        "native/optim.cc",
        "native/jit.cc",
        "native/distributed.cc",
        "native/grid_sample.cc",
        "native/conv_transpose.cc",
        "native/conv_winograd.cc",
        "native/profiler.cc",
        "native/flops.cc",
        "native/autocast.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/libtorch.cjs include)"
      ],
      "libraries": ["<!@(node native/libtorch.cjs libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node native/libtorch.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
