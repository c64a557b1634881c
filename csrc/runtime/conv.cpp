// Conv2d and Pool2d in TTNN's convention: activations come and go as flattened
// NHWC, [1, 1, N*H*W, C]. Inside, they are NCHW for ATen.
#include "kernels.h"

namespace tt::runtime::kernels {

namespace {

struct Window {
  int64_t kh, kw, sh, sw, pt, pb, pl, pr, dh, dw;
};

std::vector<int64_t> pair(const ::flatbuffers::Vector<int32_t>* values, const char* name, int64_t fallback) {
  if (values == nullptr || values->size() == 0) return {fallback, fallback};
  return sized(toVector(values), 2, name);
}

template <typename Op>
Window window(const Op& op) {
  auto k = pair(op.kernel_size(), "kernel_size", -1);
  auto s = pair(op.stride(), "stride", 1);
  auto d = pair(op.dilation(), "dilation", 1);
  std::vector<int64_t> p = toVector(op.padding());
  if (p.empty()) p = {0, 0, 0, 0};
  if (p.size() == 2) p = {p[0], p[0], p[1], p[1]};
  sized(p, 4, "padding ([top, bottom, left, right])");
  if (k[0] <= 0 || k[1] <= 0 || s[0] <= 0 || s[1] <= 0 || d[0] <= 0 || d[1] <= 0) {
    fail("kernel_size, stride and dilation must be positive, got ", shapeStr(k), ", ", shapeStr(s), ", ", shapeStr(d));
  }
  for (int64_t v : p) {
    if (v < 0) fail("padding must not be negative, got ", shapeStr(p));
  }
  return {k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3], d[0], d[1]};
}

// [1, 1, N*H*W, C] -> [N, C, H, W]
at::Tensor toNCHW(const at::Tensor& flat, int64_t n, int64_t h, int64_t w, int64_t c) {
  if (flat.numel() != n * h * w * c) {
    fail("input ", shapeStr(flat.sizes()), " holds ", flat.numel(), " elements, but batch_size * input_height * "
         "input_width * channels = ", n, " * ", h, " * ", w, " * ", c, " = ", n * h * w * c);
  }
  return flat.reshape({n, h, w, c}).permute({0, 3, 1, 2});
}

// [N, C, OH, OW] -> [1, 1, N*OH*OW, C]
at::Tensor toFlatNHWC(const at::Tensor& nchw) {
  return nchw.permute({0, 2, 3, 1}).reshape({1, 1, -1, nchw.size(1)});
}

int64_t outputSize(int64_t in, int64_t pad_lo, int64_t pad_hi, int64_t kernel, int64_t stride, int64_t dilation,
                   bool ceil_mode) {
  int64_t span = in + pad_lo + pad_hi - dilation * (kernel - 1) - 1;
  if (span < 0) {
    fail("the window (", kernel, " with dilation ", dilation, ") is larger than the padded input (",
         in + pad_lo + pad_hi, ")");
  }
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // As torch: with ceil_mode the last window must start inside the input or its low padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_lo) --out;
  return out;
}

}  // namespace

// The weights sit in SrcA and the activations in SrcB, as for matmul.
void run(const ttnn::Conv2dOp& op, ProgramContext& ctx) {
  Window win = window(op);
  int64_t groups = op.groups() == 0 ? 1 : op.groups();
  RegisterOperand input = registerOperand(ctx, op.input(), "input");
  RegisterOperand weights = registerOperand(ctx, op.weight(), "weight");
  toNCHW(input.value, op.batch_size(), op.input_height(), op.input_width(), op.in_channels());  // checks the size
  const at::Tensor& weight = weights.value;
  if (weight.dim() != 4 || weight.size(0) != op.out_channels() || weight.size(1) * groups != op.in_channels()) {
    fail("weight is ", shapeStr(weight.sizes()), ", expected [out_channels, in_channels / groups, KH, KW] = [",
         op.out_channels(), ", ", op.in_channels() / groups, ", ", win.kh, ", ", win.kw, "]");
  }
  int64_t oh = outputSize(op.input_height(), win.pt, win.pb, win.kh, win.sh, win.dh, false);
  int64_t ow = outputSize(op.input_width(), win.pl, win.pr, win.kw, win.sw, win.dw, false);
  ctx.expectShape(op.out(), {1, 1, int64_t{op.batch_size()} * oh * ow, int64_t{op.out_channels()}});
  std::optional<at::Tensor> bias;
  if (op.bias() != nullptr) bias = f32(ctx.get(op.bias(), "bias")).reshape({-1});
  bool symmetric = win.pt == win.pb && win.pl == win.pr;
  ConvParams params{symmetric ? std::vector<int64_t>{win.pt, win.pl} : std::vector<int64_t>{0, 0},
                    {win.sh, win.sw}, {win.dh, win.dw}, groups};
  // A residual operand (a fused `conv + residual` of a residual block) is added after the
  // bias and before the activation.
  std::optional<at::Tensor> residual;
  if (op.residual() != nullptr) {
    const at::Tensor& r = ctx.get(op.residual(), "residual");
    int64_t rows = int64_t{op.batch_size()} * oh * ow;
    if (r.numel() != rows * op.out_channels()) {
      fail("residual ", shapeStr(r.sizes()), " does not match the output [1, 1, ", rows, ", ", op.out_channels(),
           "] (batch_size * output height * output width, out_channels)");
    }
    residual = f32(r).reshape({op.batch_size(), oh, ow, op.out_channels()}).permute({0, 3, 1, 2});
  }
  MathConfig config = mathConfig(op.compute_config(), ctx.device().numerics());
  // One oneDNN kernel adds the bias and the residual and applies the activation where the
  // product is one pass (Fast numerics); otherwise they follow the summed phases. Emulated,
  // a residual still joins the kernel where the product is one pass and the output fp32
  // (the separate ops' arithmetic, bit for bit), and the activation is ATen's, in place.
  bool fuse_epilogue = !config.emulate;
  bool fuse_residual = residual.has_value() && onePass(config) &&
                       (fuse_epilogue || describe(op.out(), "out").dtype == fb::DataType::Float32);
  // The compiler marks a residual that is dead after this op (no later reader, no view of
  // it read later, not a program input or output): the sum may accumulate into its buffer.
  bool into_residual = fuse_residual && op.residual_in_place() && !residual->is_alias_of(input.value);
  bool bias_pending = true;  // the bias joins the first phase's product, in the accumulator
  auto conv = [&](const at::Tensor& w, const at::Tensor& flat) {
    at::Tensor x = toNCHW(flat, op.batch_size(), op.input_height(), op.input_width(), op.in_channels());
    if (!symmetric) x = at::constant_pad_nd(x, {win.pl, win.pr, win.pt, win.pb}, 0);
    std::optional<at::Tensor> b = bias_pending ? bias : std::nullopt;
    bias_pending = false;
    fb::Activation activation = fuse_epilogue ? op.activation() : fb::Activation::None;
    bool add_residual = fuse_residual;
    int64_t macs = int64_t{op.batch_size()} * oh * ow * w.numel();
    if (weights.persistent && onednn::available(w, x) && onednn::worthIt(macs)) {
      // the weight reordered once (the register operand is the weight or a cached copy of it)
      at::Tensor packed = ctx.device().derived(w, cat("onednn conv2d ", shapeStr(x.sizes()), " ", win.sh, win.sw,
                                                      win.dh, win.dw, symmetric ? win.pt : 0, symmetric ? win.pl : 0),
                                               [&] { return onednn::packConvWeight(w, params, x.sizes()); });
      at::Tensor x_nhwc = x.contiguous(at::MemoryFormat::ChannelsLast);
      if (add_residual) return onednn::convAdd(x_nhwc, packed, b, *residual, params, activation, into_residual);
      return onednn::conv(x_nhwc, packed, b, params, activation);
    }
    at::Tensor y = at::conv2d(x, w.contiguous(at::MemoryFormat::ChannelsLast), b, params.stride, params.padding,
                              params.dilation, groups);
    if (add_residual) y.add_(*residual);  // y is the kernel's fresh output
    return activate(y, activation);
  };
  at::Tensor y = matrixProduct(weights, input, config, conv);
  if (!fuse_epilogue) {
    // as the separate ops would: the product in the output's format, then the sum (y is a
    // fresh tensor)
    if (residual && !fuse_residual) {
      y = f32(toContainer(y, describe(op.out(), "out").dtype, ctx.device().numerics())).add_(*residual);
    }
    activateInPlace(y, op.activation());
  }
  ctx.set(op.out(), toFlatNHWC(y));
}

// Max, Avg and Sum pooling over explicit windows (any padding, dilation and
// ceil_mode): pad, view the windows with unfold, reduce them.
void run(const ttnn::Pool2dOp& op, ProgramContext& ctx) {
  Window win = window(op);
  const at::Tensor& in = ctx.get(op.in(), "in");
  // integer max and sum pooling in int64, exactly (set() checks the int32 range)
  bool integer = isInt(in) && op.type() != ttnn::Pool2dType::Avg;
  at::Tensor x =
      toNCHW(integer ? i64(in) : f32(in), op.batch_size(), op.input_height(), op.input_width(), op.channels());
  int64_t h = x.size(2), w = x.size(3);
  int64_t oh = outputSize(h, win.pt, win.pb, win.kh, win.sh, win.dh, op.ceil_mode());
  int64_t ow = outputSize(w, win.pl, win.pr, win.kw, win.sw, win.dw, op.ceil_mode());
  ctx.expectShape(op.out(), {1, 1, int64_t{op.batch_size()} * oh * ow, int64_t{op.channels()}});
  // Max pooling of floats with padding ATen takes (symmetric, at most half the window) is
  // ATen's own kernel, which reads channels-last input in place; it pads with -inf and
  // sizes ceil_mode's windows as above.
  bool symmetric = win.pt == win.pb && win.pl == win.pr;
  if (op.type() == ttnn::Pool2dType::Max && !integer && symmetric && 2 * win.pt <= win.kh && 2 * win.pl <= win.kw) {
    at::Tensor y = at::max_pool2d(x, {win.kh, win.kw}, {win.sh, win.sw}, {win.pt, win.pl}, {win.dh, win.dw},
                                  op.ceil_mode());
    if (y.size(2) == oh && y.size(3) == ow) {
      ctx.set(op.out(), toFlatNHWC(y));
      return;
    }
  }
  // Extra high padding so that ceil_mode's last windows are complete.
  int64_t extra_h = std::max<int64_t>(0, (oh - 1) * win.sh + win.dh * (win.kh - 1) + 1 - (h + win.pt + win.pb));
  int64_t extra_w = std::max<int64_t>(0, (ow - 1) * win.sw + win.dw * (win.kw - 1) + 1 - (w + win.pl + win.pr));
  double fill = 0;
  if (op.type() == ttnn::Pool2dType::Max) fill = integer ? INT32_MIN : -std::numeric_limits<double>::infinity();
  x = at::constant_pad_nd(x, {win.pl, win.pr + extra_w, win.pt, win.pb + extra_h}, fill);
  int64_t span_h = win.dh * (win.kh - 1) + 1, span_w = win.dw * (win.kw - 1) + 1;
  at::Tensor windows = x.unfold(2, span_h, win.sh).unfold(3, span_w, win.sw);  // [N, C, OH', OW', span_h, span_w]
  windows = windows.slice(2, 0, oh).slice(3, 0, ow).slice(4, 0, span_h, win.dh).slice(5, 0, span_w, win.dw);
  at::Tensor y;
  switch (op.type()) {
    case ttnn::Pool2dType::Max: y = windows.amax({4, 5}); break;
    case ttnn::Pool2dType::Sum: y = windows.sum({4, 5}); break;
    case ttnn::Pool2dType::Avg: y = windows.sum({4, 5}) / static_cast<double>(win.kh * win.kw); break;
    default: fail("no kernel for pool type <invalid ", static_cast<int>(op.type()), ">");
  }
  ctx.set(op.out(), toFlatNHWC(y));
}

}  // namespace tt::runtime::kernels
