// Lookup ops of a table (see mx_rec/core/lookup.py for the graph they form):
//
//   AscLookup  training, phase 1: admission counts, key -> slot, rows moved
//              between tiers; pins the slots for the step. Says which keys
//              need an initial row.
//   AscFill    training, phase 2: writes the initial rows drawn by the
//              graph for those keys (and their optimizer state), then reads
//              the rows of every slot.
//   AscRead    evaluation: rows from whichever tier holds each key, the
//              default value for the others; never inserts or counts.
#include <algorithm>
#include <memory>
#include <vector>

#include "asc/table.h"
#include "status_util.h"
#include "table_resource.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

namespace {

// Reads n_valid (input `index`) of a lookup over m padded keys.
Status ReadValidCount(OpKernelContext* ctx, int index, int64_t m, int64_t* n) {
  *n = ctx->input(index).scalar<int32_t>()();
  if (*n < 0 || *n > m) {
    return errors::InvalidArgument("n_valid must be in [0, ", m, "], got ", *n);
  }
  return OkStatus();
}

Status CheckDefault(const Tensor& value, int64_t dim) {
  if (value.dims() != 1 || value.dim_size(0) != dim) {
    return errors::InvalidArgument("default_value must have shape [", dim, "], got ",
                                   value.shape().DebugString());
  }
  return OkStatus();
}

}  // namespace

REGISTER_OP("AscLookup")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("keys: T")
    .Input("n_valid: int32")
    .Input("counts: int32")
    .Input("time: int64")
    .Input("training: bool")
    .Output("slots: int64")
    .Output("fill_index: int64")
    .Attr("T: {int32, int64}")
    .Attr("access_threshold: int >= 0 = 0")
    .Attr("eviction_threshold: int >= 0 = 0")
    .Attr("coefficient: int >= 1 = 1")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &keys));
      c->set_output(0, keys);
      c->set_output(1, c->Vector(c->UnknownDim()));
      return OkStatus();
    })
    .Doc(R"doc(
Training lookup of the first n_valid unique keys (the rest is static-shape
padding, slot -1). slots[i] is the key's device slot, pinned until the step
ends; -1 for a key that is not admitted. fill_index lists the positions whose
rows are not written yet: AscFill writes them. With access_threshold > 0 the
keys' occurrence counts (x coefficient) and time are recorded first (time < 0:
the table's own step count). training=false: no lookup at all (slots -1).
)doc");

template <typename K>
class AscLookupOp : public OpKernel {
 public:
  explicit AscLookupOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadAdmission(ctx, &admission_, &admission_enabled_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("coefficient", &coefficient_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const Tensor& keys = ctx->input(2);
    const int64_t m = keys.NumElements();
    int64_t n = 0;
    OP_REQUIRES_OK(ctx, ReadValidCount(ctx, 3, m, &n));
    const Tensor& counts = ctx->input(4);
    Tensor* slots_out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({m}), &slots_out));
    int64_t* slots = slots_out->flat<int64_t>().data();
    std::fill(slots, slots + m, int64_t{-1});
    std::vector<int64_t> fill;
    if (ctx->input(6).scalar<bool>()()) {
      OP_REQUIRES(ctx, !admission_enabled_ || counts.NumElements() >= n,
                  errors::InvalidArgument("counts must have one entry per key: ", n,
                                          " keys, ", counts.NumElements(), " counts"));
      if (admission_enabled_) OP_REQUIRES_OK(ctx, table->ConfigureAdmission(admission_));
      std::shared_ptr<asc::Table> core;
      OP_REQUIRES_OK(ctx, table->Core(&core));
      StepHold* hold = nullptr;
      OP_REQUIRES_OK(ctx, FindStep(ctx, table.get(), core, /*create=*/true, &hold));
      core::ScopedUnref unref(hold);
      std::unique_ptr<VariableRows> rows;
      OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, HandleFromInput(ctx, 1), *table->states(),
                                             table->options().dim, &rows));
      std::unique_ptr<bool[]> needs_init(new bool[static_cast<size_t>(n) + 1]);
      asc::KeyAccess access;
      access.counts = counts.flat<int32_t>().data();
      access.coefficient = coefficient_;
      access.time = ctx->input(5).scalar<int64_t>()();
      OP_REQUIRES_OK(ctx, ToTfStatus(core->Lookup<K>(hold->id(), n, keys.flat<K>().data(),
                                                     admission_enabled_ ? &access : nullptr,
                                                     rows.get(), slots, needs_init.get())));
      for (int64_t i = 0; i < n; ++i) {
        if (needs_init[i]) fill.push_back(i);
      }
    }
    Tensor* fill_out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({static_cast<int64_t>(fill.size())}),
                                             &fill_out));
    std::copy(fill.begin(), fill.end(), fill_out->flat<int64_t>().data());
  }

 private:
  asc::AdmissionOptions admission_;
  bool admission_enabled_ = false;
  int64_t coefficient_ = 1;
};

REGISTER_KERNEL_BUILDER(Name("AscLookup").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscLookupOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscLookup").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscLookupOp<int64_t>);

REGISTER_OP("AscFill")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("slots: int64")
    .Input("fill_index: int64")
    .Input("initial_rows: float")
    .Input("default_value: float")
    .Output("rows: float")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle slots, initial, value;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &slots));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(4), 2, &initial));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(5), 1, &value));
      c->set_output(0, c->Matrix(c->Dim(slots, 0), c->Dim(value, 0)));
      return OkStatus();
    })
    .Doc(R"doc(
Training lookup, phase 2: writes initial_rows[j] into the slot of position
fill_index[j] when no other step has written it meanwhile (optimizer state
gets its initial value), then returns the row of every slot (default_value
for slot -1).
)doc");

class AscFillOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const int64_t dim = table->options().dim;
    const Tensor& slots = ctx->input(2);
    const Tensor& fill_index = ctx->input(3);
    const Tensor& initial = ctx->input(4);
    const Tensor& value = ctx->input(5);
    OP_REQUIRES_OK(ctx, CheckDefault(value, dim));
    const int64_t m = slots.NumElements();
    const int64_t k = fill_index.NumElements();
    OP_REQUIRES(ctx, initial.dim_size(0) == k && initial.dim_size(1) == dim,
                errors::InvalidArgument("initial_rows must be [", k, ", ", dim, "], got ",
                                        initial.shape().DebugString()));
    const int64_t* s = slots.flat<int64_t>().data();
    const ResourceHandle embedding = HandleFromInput(ctx, 1);
    std::unique_ptr<VariableRows> rows;
    if (k > 0) {
      std::shared_ptr<asc::Table> core = table->CoreIfCreated();
      StepHold* hold = nullptr;
      if (core != nullptr) OP_REQUIRES_OK(ctx, FindStep(ctx, table.get(), core, /*create=*/false, &hold));
      OP_REQUIRES(ctx, hold != nullptr,
                  errors::FailedPrecondition("table '", table->options().name,
                                             "': AscFill without an AscLookup in this step"));
      core::ScopedUnref unref(hold);
      std::vector<int64_t> fill_slots(static_cast<size_t>(k));
      const int64_t* index = fill_index.flat<int64_t>().data();
      for (int64_t j = 0; j < k; ++j) {
        OP_REQUIRES(ctx, index[j] >= 0 && index[j] < m,
                    errors::InvalidArgument("fill_index ", index[j], " outside [0, ", m, ")"));
        fill_slots[static_cast<size_t>(j)] = s[index[j]];
      }
      OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, embedding, *table->states(), dim, &rows));
      OP_REQUIRES_OK(ctx, ToTfStatus(core->Fill(hold->id(), k, fill_slots.data(),
                                                initial.flat<float>().data(), rows.get())));
    } else {
      OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, embedding, {}, dim, &rows));
    }
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({m, dim}), &out));
    float* dst = out->flat<float>().data();
    std::vector<int64_t> present, positions;
    for (int64_t i = 0; i < m; ++i) {
      if (s[i] >= 0) {
        present.push_back(s[i]);
        positions.push_back(i);
      } else {
        std::copy_n(value.flat<float>().data(), dim, dst + i * dim);
      }
    }
    if (positions.size() == static_cast<size_t>(m)) {
      OP_REQUIRES_OK(ctx, ToTfStatus(rows->ReadEmbedding(m, present.data(), dst)));
      return;
    }
    std::vector<float> gathered(present.size() * static_cast<size_t>(dim));
    OP_REQUIRES_OK(ctx, ToTfStatus(rows->ReadEmbedding(static_cast<int64_t>(present.size()),
                                                       present.data(), gathered.data())));
    for (size_t j = 0; j < positions.size(); ++j) {
      std::copy_n(gathered.data() + j * dim, dim, dst + positions[j] * dim);
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscFill").Device(DEVICE_CPU), AscFillOp);

REGISTER_OP("AscRead")
    .Input("table: resource")
    .Input("embedding: resource")
    .Input("keys: T")
    .Input("enabled: bool")
    .Input("default_value: float")
    .Output("rows: float")
    .Attr("T: {int32, int64}")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys, value;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &keys));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(4), 1, &value));
      c->set_output(0, c->Matrix(c->Dim(keys, 0), c->Dim(value, 0)));
      return OkStatus();
    })
    .Doc(R"doc(
Evaluation read: the row of each key from whichever tier holds it,
default_value for keys the table does not hold. Never inserts, moves or
counts. enabled=false returns default_value rows without reading.
)doc");

template <typename K>
class AscReadOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, 0, &table));
    const int64_t dim = table->options().dim;
    const Tensor& keys = ctx->input(2);
    const Tensor& value = ctx->input(4);
    OP_REQUIRES_OK(ctx, CheckDefault(value, dim));
    const int64_t n = keys.NumElements();
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n, dim}), &out));
    float* dst = out->flat<float>().data();
    std::unique_ptr<bool[]> found(new bool[static_cast<size_t>(n) + 1]());
    std::shared_ptr<asc::Table> core = table->CoreIfCreated();
    if (ctx->input(3).scalar<bool>()() && core != nullptr) {
      std::unique_ptr<VariableRows> rows;
      OP_REQUIRES_OK(ctx, VariableRows::Make(ctx, HandleFromInput(ctx, 1), {}, dim, &rows));
      OP_REQUIRES_OK(ctx, ToTfStatus(core->Read<K>(n, keys.flat<K>().data(), *rows, dst,
                                                   found.get())));
    }
    for (int64_t i = 0; i < n; ++i) {
      if (!found[i]) std::copy_n(value.flat<float>().data(), dim, dst + i * dim);
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("AscRead").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscReadOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscRead").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscReadOp<int64_t>);

}  // namespace asc_tf
