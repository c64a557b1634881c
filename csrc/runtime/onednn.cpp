// oneDNN's linear and convolution kernels with weights reordered once into the blocked
// layout the kernels read. libtorch registers them as the mkldnn:: operators that
// torch.compile's CPU backend uses; they are reached through the dispatcher, boxed, so
// that this file does not depend on their C++ signatures.
#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include "kernels.h"

namespace tt::runtime::kernels::onednn {

namespace {

std::optional<c10::OperatorHandle> find(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchema({name, overload});
}

at::Tensor call(const c10::OperatorHandle& op, torch::jit::Stack stack) {
  op.callBoxed(&stack);
  return stack.back().toTensor();
}

struct Ops {
  std::optional<c10::OperatorHandle> reorder_conv, conv, conv_binary, conv_binary_into, reorder_linear, linear;
  bool ok() const { return reorder_conv && conv && conv_binary && reorder_linear && linear; }
};

const Ops& ops() {
  static const Ops found = [] {
    Ops o;
    if (!at::hasMKLDNN()) return o;
    o.reorder_conv = find("mkldnn::_reorder_convolution_weight");
    o.conv = find("mkldnn::_convolution_pointwise");
    o.conv_binary = find("mkldnn::_convolution_pointwise", "binary");
    // the in-place form: the sum post-op accumulates the product into `other`'s buffer
    o.conv_binary_into = find("mkldnn::_convolution_pointwise_", "binary");
    o.reorder_linear = find("mkldnn::_reorder_linear_weight");
    o.linear = find("mkldnn::_linear_pointwise");
    return o;
  }();
  return found;
}

// The epilogue's name and algorithm in oneDNN's fused-op vocabulary.
std::pair<std::string, std::optional<std::string>> attr(fb::Activation activation) {
  switch (activation) {
    case fb::Activation::None: return {"none", std::nullopt};
    case fb::Activation::Relu: return {"relu", std::nullopt};
    case fb::Activation::Gelu: return {"gelu", std::string("none")};
    case fb::Activation::GeluTanh: return {"gelu", std::string("tanh")};
    case fb::Activation::Silu: return {"swish", std::nullopt};
  }
  fail("unknown fused activation <invalid ", static_cast<int>(activation), ">");
}

c10::IValue ints(const std::vector<int64_t>& v) { return c10::IValue(v); }

// An optional argument: the value, or None.
template <typename T>
c10::IValue orNone(const std::optional<T>& v) {
  return v ? c10::IValue(*v) : c10::IValue();
}

bool takes(const at::Tensor& t) { return t.defined() && t.is_cpu() && t.scalar_type() == at::kFloat; }

}  // namespace

bool available(const at::Tensor& weight, const at::Tensor& input) {
  return ops().ok() && takes(weight) && takes(input);
}

at::Tensor packConvWeight(const at::Tensor& weight, const ConvParams& p, at::IntArrayRef input_size) {
  return call(*ops().reorder_conv, {weight, ints(p.padding), ints(p.stride), ints(p.dilation), p.groups,
                                    ints(input_size.vec())});
}

at::Tensor conv(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                const ConvParams& p, fb::Activation activation) {
  auto [name, algorithm] = attr(activation);
  return call(*ops().conv, {x, packed, orNone(bias), ints(p.padding), ints(p.stride), ints(p.dilation), p.groups,
                            name, c10::List<std::optional<at::Scalar>>(), orNone(algorithm)});
}

at::Tensor convAdd(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                   const at::Tensor& residual, const ConvParams& p, fb::Activation activation, bool into_residual) {
  // the binary-add post-op takes relu after it and no other activation (libtorch refuses them)
  bool relu = activation == fb::Activation::Relu;
  c10::IValue unary = relu ? c10::IValue(std::string("relu")) : c10::IValue();
  // Into the residual's buffer (the sum post-op: the same additions, bit for bit) where it is
  // channels-last, fp32 and not the input itself; oneDNN then writes no fresh output.
  if (into_residual && ops().conv_binary_into && takes(residual) &&
      residual.is_contiguous(at::MemoryFormat::ChannelsLast) && !residual.is_alias_of(x)) {
    at::Tensor y = call(*ops().conv_binary_into, {residual, x, packed, orNone(bias), ints(p.padding), ints(p.stride),
                                                  ints(p.dilation), p.groups, std::string("add"), c10::IValue(),
                                                  unary, c10::List<std::optional<at::Scalar>>(), c10::IValue()});
    if (!relu) activateInPlace(y, activation);
    return y;
  }
  at::Tensor y = call(*ops().conv_binary, {x, residual, packed, orNone(bias), ints(p.padding), ints(p.stride),
                                           ints(p.dilation), p.groups, std::string("add"), c10::IValue(), unary,
                                           c10::List<std::optional<at::Scalar>>(), c10::IValue()});
  return relu ? y : activate(y, activation);
}

at::Tensor packLinearWeight(const at::Tensor& weight_nk, int64_t rows) {
  return call(*ops().reorder_linear, {weight_nk, rows});
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                  fb::Activation activation) {
  auto [name, algorithm] = attr(activation);
  return call(*ops().linear,
              {x, packed, orNone(bias), name, c10::List<std::optional<at::Scalar>>(), orNone(algorithm)});
}

}  // namespace tt::runtime::kernels::onednn
