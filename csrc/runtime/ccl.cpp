// Collectives (CCL) across the emulated chips of a mesh: mesh_shard, all_gather,
// all_reduce, reduce_scatter. The executor calls these once per op with chip 0's context
// (they are collective entries of its dispatch table); each reads the tensors of every
// chip through ProgramContext::peer and stores every chip's result.
//
// Numerics: a reduction adds the chips' tensors in ring order, chip 0 first, rounding to
// the tensor's data format after each addition (((x0 + x1) + x2) + ...), as a ring that
// forwards partial sums in the tensor's format does; every chip gets the same bits, and
// the result does not depend on which physical chips hold the shards.
//
// A mesh spread over processes (MeshTransport): each process holds the contexts of its own
// chips. A collective whose lines hold chips of one process each stays local; otherwise
// every process hands its chips' inputs to the transport and gets every chip's back (an
// all_gather over the processes), then reduces them itself in the same ring order. So every
// process computes the same bits as the one-process run, whatever the split; each stores
// only its own chips' results.
#include "kernels.h"

namespace tt::runtime {

Device& Device::chip(size_t index) {
  if (index == 0) return *this;
  size_t chips = static_cast<size_t>(info_.numChips());
  if (index >= chips) fail("chip ", index, " is not in device '", info_.name, "', which has ", chips, " chip(s)");
  std::lock_guard<std::mutex> lock(chips_mutex_);
  if (chips_.size() < chips) chips_.resize(chips);
  if (!chips_[index]) {
    chips_[index] = std::make_shared<Device>(info_, numerics_);
    chips_[index]->setIntegerOverflow(integerOverflow());
  }
  return *chips_[index];
}

namespace kernels {

namespace {

// The chips of the line of mesh axis `axis` through chip `chip` (row-major chip ids of
// the program's logical mesh), in ring order.
std::vector<size_t> lineOf(const std::vector<int64_t>& mesh, uint32_t axis, size_t chip) {
  if (mesh.size() != 2) fail("the program's mesh must have 2 axes, got ", shapeStr(mesh));
  if (axis > 1) fail("cluster_axis ", axis, " is not an axis of the mesh ", shapeStr(mesh));
  size_t rows = mesh[0], cols = mesh[1];
  size_t r = chip / cols, c = chip % cols;
  std::vector<size_t> line;
  if (axis == 1) {
    for (size_t k = 0; k < cols; ++k) line.push_back(r * cols + k);
  } else {
    for (size_t k = 0; k < rows; ++k) line.push_back(k * cols + c);
  }
  return line;
}

// The logical mesh of the program: [1, chips] unless the context says otherwise.
std::vector<int64_t> meshOf(ProgramContext& ctx) { return ctx.meshShape(); }

// Every line of `axis`: each chip appears in exactly one.
std::vector<std::vector<size_t>> linesOf(ProgramContext& ctx, uint32_t axis) {
  std::vector<int64_t> mesh = meshOf(ctx);
  std::vector<std::vector<size_t>> lines;
  std::vector<bool> seen(ctx.numChips(), false);
  for (size_t chip = 0; chip < ctx.numChips(); ++chip) {
    if (seen[chip]) continue;
    lines.push_back(lineOf(mesh, axis, chip));
    for (size_t k : lines.back()) seen[k] = true;
  }
  return lines;
}

// Chips 0..chips-1, one line.
std::vector<size_t> allChips(size_t chips) {
  std::vector<size_t> line(chips);
  for (size_t k = 0; k < chips; ++k) line[k] = k;
  return line;
}

// Whether the line holds chips of this process.
bool touchesHere(ProgramContext& ctx, const std::vector<size_t>& line) {
  for (size_t chip : line) {
    if (ctx.isLocal(chip)) return true;
  }
  return false;
}

// Every chip's value of `in`, indexed by chip id: this process's from its chips' contexts;
// when one of `lines` holds chips of several processes, every chip's through the transport
// (all processes make this call for the same op, since they run the same program).
std::vector<at::Tensor> valuesOf(ProgramContext& ctx, const std::vector<std::vector<size_t>>& lines,
                                 const fb::TensorRef* in, const char* what) {
  const size_t chips = ctx.numChips();
  std::vector<at::Tensor> values(chips);
  for (size_t chip = 0; chip < chips; ++chip) {
    if (ctx.isLocal(chip)) values[chip] = ctx.peer(chip).get(in, "in");
  }
  const MeshTransport* transport = ctx.transport();
  if (transport == nullptr) return values;
  bool crosses = false;
  for (const std::vector<size_t>& line : lines) {
    for (size_t chip : line) crosses = crosses || transport->owner(chip) != transport->owner(line[0]);
  }
  if (!crosses) return values;
  std::vector<at::Tensor> local(values.begin() + transport->first_chip,
                                values.begin() + transport->first_chip + transport->local_chips);
  std::vector<at::Tensor> all = transport->exchange(what, local);
  if (all.size() != chips) fail("the mesh transport returned ", all.size(), " tensors for ", chips, " chips");
  for (size_t chip = 0; chip < chips; ++chip) {
    const at::Tensor& mine = local[0];
    if (!all[chip].defined() || all[chip].sizes() != mine.sizes() || all[chip].scalar_type() != mine.scalar_type()) {
      fail("chip ", chip, "'s tensor from the mesh transport is not a ", shapeStr(mine.sizes()), " ",
           c10::toString(mine.scalar_type()), " like this process's");
    }
  }
  return all;
}

// The ring reduction of the line's tensors (`values` indexed by chip), in the format of `out`.
at::Tensor ringReduce(ProgramContext& ctx, const std::vector<size_t>& line, const std::vector<at::Tensor>& values,
                      const fb::TensorRef* out, ttnn::CclReduceType type) {
  TensorInfo info = describe(out, "out");
  Numerics numerics = ctx.device().numerics();
  at::Tensor acc = values[line[0]];
  for (size_t k = 1; k < line.size(); ++k) {
    at::Tensor x = values[line[k]];
    at::Tensor a = acc.to(at::kFloat), b = x.to(at::kFloat);
    at::Tensor r;
    switch (type) {
      case ttnn::CclReduceType::Sum: r = a + b; break;
      case ttnn::CclReduceType::Max: r = at::maximum(a, b); break;
      case ttnn::CclReduceType::Min: r = at::minimum(a, b); break;
      default: fail("unknown reduce_type ", static_cast<int>(type));
    }
    acc = toContainer(r, info.dtype, numerics);
  }
  return toContainer(acc, info.dtype, numerics);
}

}  // namespace

void run(const ttnn::MeshShardOp& op, ProgramContext& ctx) {
  const size_t chips = ctx.numChips();
  const bool to_shard = op.shard_direction() == ttnn::MeshShardDirection::FullToShard;
  // FullToShard: every process has the host tensor and cuts its own chips' shards.
  const at::Tensor full = to_shard ? ctx.get(op.in(), "in") : at::Tensor();
  std::vector<int64_t> mesh = meshOf(ctx);
  std::vector<int64_t> dims = toVector(op.shard_dims());
  std::vector<int64_t> pieces = toVector(op.shard_shape());
  switch (op.shard_type()) {
    case ttnn::MeshShardType::Identity:
    case ttnn::MeshShardType::Replicate:
    case ttnn::MeshShardType::Maximal:
      // Replicate: every chip holds the whole tensor (to the host: chip 0's copy).
      if (to_shard) {
        for (size_t chip = 0; chip < chips; ++chip) {
          if (ctx.isLocal(chip)) ctx.peer(chip).set(op.out(), full);
        }
      } else {
        at::Tensor value = valuesOf(ctx, {allChips(chips)}, op.in(), "mesh_shard")[0];
        for (size_t chip = 0; chip < chips; ++chip) {
          if (ctx.isLocal(chip)) ctx.peer(chip).set(op.out(), value);
        }
      }
      return;
    case ttnn::MeshShardType::Devices: break;
    default: fail("unknown shard_type ", static_cast<int>(op.shard_type()));
  }
  if (dims.size() != mesh.size()) fail("shard_dims ", shapeStr(dims), " must name one dim per mesh axis of ", shapeStr(mesh));
  if (to_shard && pieces.size() != static_cast<size_t>(full.dim())) {
    fail("shard_shape ", shapeStr(pieces), " must have one entry per dim of the tensor ", shapeStr(full.sizes()));
  }
  auto coords = [&](size_t chip) {
    return std::vector<int64_t>{static_cast<int64_t>(chip) / mesh[1], static_cast<int64_t>(chip) % mesh[1]};
  };
  if (to_shard) {
    for (size_t chip = 0; chip < chips; ++chip) {
      if (!ctx.isLocal(chip)) continue;
      at::Tensor shard = full;
      std::vector<int64_t> at = coords(chip);
      for (size_t axis = 0; axis < dims.size(); ++axis) {
        if (dims[axis] < 0) continue;
        int64_t d = normalizeDim(dims[axis], full.dim(), "shard dim");
        int64_t n = pieces[d];
        if (n != mesh[axis] || full.size(d) % n != 0) {
          fail("dim ", d, " of size ", full.size(d), " does not split into ", mesh[axis], " shards over mesh axis ",
               axis, " (shard_shape ", shapeStr(pieces), ")");
        }
        int64_t size = full.size(d) / n;
        shard = shard.narrow(d, at[axis] * size, size);
      }
      ctx.peer(chip).set(op.out(), shard);
    }
    return;
  }
  // ShardToFull: concatenate along each sharded dim, the last mesh axis first.
  std::vector<at::Tensor> parts = valuesOf(ctx, {allChips(chips)}, op.in(), "mesh_shard");
  int64_t rows = mesh[0], cols = mesh[1];
  std::vector<at::Tensor> row_parts;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<at::Tensor> cells(parts.begin() + r * cols, parts.begin() + (r + 1) * cols);
    row_parts.push_back(dims[1] >= 0 ? at::cat(cells, normalizeDim(dims[1], cells[0].dim(), "shard dim")) : cells[0]);
  }
  at::Tensor whole = dims[0] >= 0 ? at::cat(row_parts, normalizeDim(dims[0], row_parts[0].dim(), "shard dim"))
                                  : row_parts[0];
  for (size_t chip = 0; chip < chips; ++chip) {
    if (ctx.isLocal(chip)) ctx.peer(chip).set(op.out(), whole);
  }
}

void run(const ttnn::AllGatherOp& op, ProgramContext& ctx) {
  std::vector<std::vector<size_t>> lines = linesOf(ctx, op.cluster_axis());
  std::vector<at::Tensor> values = valuesOf(ctx, lines, op.in(), "all_gather");
  for (const std::vector<size_t>& line : lines) {
    if (!touchesHere(ctx, line)) continue;
    std::vector<at::Tensor> parts;
    for (size_t chip : line) parts.push_back(values[chip]);
    at::Tensor whole = at::cat(parts, normalizeDim(op.all_gather_dim(), parts[0].dim(), "all_gather_dim"));
    for (size_t chip : line) {
      if (!ctx.isLocal(chip)) continue;
      ctx.peer(chip).expectShape(op.out(), whole.sizes().vec());
      ctx.peer(chip).set(op.out(), whole.clone());
    }
  }
}

void run(const ttnn::AllReduceOp& op, ProgramContext& ctx) {
  std::vector<std::vector<size_t>> lines = linesOf(ctx, op.cluster_axis());
  std::vector<at::Tensor> values = valuesOf(ctx, lines, op.in(), "all_reduce");
  for (const std::vector<size_t>& line : lines) {
    if (!touchesHere(ctx, line)) continue;
    at::Tensor sum = ringReduce(ctx, line, values, op.out(), op.reduce_type());
    for (size_t chip : line) {
      if (ctx.isLocal(chip)) ctx.peer(chip).set(describe(op.out(), "out"), sum.clone(), true);
    }
  }
}

void run(const ttnn::ReduceScatterOp& op, ProgramContext& ctx) {
  std::vector<std::vector<size_t>> lines = linesOf(ctx, op.cluster_axis());
  std::vector<at::Tensor> values = valuesOf(ctx, lines, op.in(), "reduce_scatter");
  for (const std::vector<size_t>& line : lines) {
    if (!touchesHere(ctx, line)) continue;
    at::Tensor sum = ringReduce(ctx, line, values, op.out(), op.reduce_type());
    int64_t dim = normalizeDim(op.scatter_dim(), sum.dim(), "scatter_dim");
    if (sum.size(dim) % static_cast<int64_t>(line.size()) != 0) {
      fail("scatter_dim ", dim, " of size ", sum.size(dim), " does not split into ", line.size(), " pieces");
    }
    std::vector<at::Tensor> pieces = sum.chunk(line.size(), dim);
    for (size_t k = 0; k < line.size(); ++k) {
      if (ctx.isLocal(line[k])) ctx.peer(line[k]).set(describe(op.out(), "out"), pieces[k].contiguous(), true);
    }
  }
}

}  // namespace kernels
}  // namespace tt::runtime
