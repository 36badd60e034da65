// DDR-mode table ops: the device tier is a cache and rows travel between it
// and libasc's host tier.
//
//   AscPlanLookup    slots for a lookup's unique keys + the rows to move
//   AscCommitEvicted hands libasc the evicted slots' rows (gathered by the
//                    graph) before anything is written into those slots
//   AscFindRows      eval reads: device slot or the row from the host tier
#include <algorithm>
#include <memory>

#include "asc/table.h"
#include "status_util.h"
#include "table_kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscPlanLookup")
    .Input("keys: T")
    .Input("n_valid: int32")
    .Output("slots: int64")
    .Output("is_new: bool")
    .Output("evict_slots: int64")
    .Output("load_slots: int64")
    .Output("load_rows: float")
    .Attr("T: {int32, int64}")
    .Attr("table_name: string")
    .Attr("row_width: int >= 1")
    .Attr("begin_step: bool")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &keys));
      int64_t width;
      TF_RETURN_IF_ERROR(c->GetAttr("row_width", &width));
      c->set_output(0, keys);
      c->set_output(1, keys);
      c->set_output(2, c->Vector(c->UnknownDim()));
      c->set_output(3, c->Vector(c->UnknownDim()));
      c->set_output(4, c->Matrix(c->UnknownDim(), width));
      return OkStatus();
    })
    .Doc(R"doc(
Maps the first n_valid unique keys to device slots of a DDR-mode table. The
graph must gather the rows of evict_slots and pass them to AscCommitEvicted
before scattering load_rows into load_slots and initialising new keys' rows.
begin_step is true on the first training lookup of the table in a step.
Entries past n_valid (static-shape padding) get slot 0 and is_new false.
)doc");

template <typename K>
class AscPlanLookupOp : public TableKernel {
 public:
  explicit AscPlanLookupOp(OpKernelConstruction* ctx) : TableKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("row_width", &row_width_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("begin_step", &begin_step_));
  }

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    OP_REQUIRES_OK(ctx, CheckRowWidth(*table, row_width_));
    const Tensor& keys = ctx->input(0);
    const int64_t m = keys.NumElements();
    int64_t n = 0;
    OP_REQUIRES_OK(ctx, ReadValidCount(ctx, m, &n));
    Tensor* slots = nullptr;
    Tensor* is_new = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({m}), &slots));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({m}), &is_new));
    int64_t* s = slots->flat<int64_t>().data();
    bool* fresh = is_new->flat<bool>().data();
    asc::SwapPlan plan;
    OP_REQUIRES_OK(ctx, ToTfStatus(table->PlanLookup<K>(n, keys.flat<K>().data(), begin_step_, s,
                                                        fresh, &plan)));
    PadLookup(n, m, s, fresh);
    OP_REQUIRES_OK(ctx, CopyOut(ctx, 2, plan.evict_slots));
    OP_REQUIRES_OK(ctx, CopyOut(ctx, 3, plan.load_slots));
    Tensor* rows = nullptr;
    const int64_t loads = static_cast<int64_t>(plan.load_slots.size());
    OP_REQUIRES_OK(ctx, ctx->allocate_output(4, TensorShape({loads, row_width_}), &rows));
    std::copy(plan.load_rows.begin(), plan.load_rows.end(), rows->flat<float>().data());
  }

 private:
  static Status CopyOut(OpKernelContext* ctx, int index, const std::vector<int64_t>& values) {
    Tensor* out = nullptr;
    TF_RETURN_IF_ERROR(ctx->allocate_output(
        index, TensorShape({static_cast<int64_t>(values.size())}), &out));
    std::copy(values.begin(), values.end(), out->flat<int64_t>().data());
    return OkStatus();
  }

  int64_t row_width_ = 0;
  bool begin_step_ = false;
};

REGISTER_KERNEL_BUILDER(Name("AscPlanLookup").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscPlanLookupOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscPlanLookup").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscPlanLookupOp<int64_t>);

REGISTER_OP("AscCommitEvicted")
    .Input("rows: float")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle rows;
      return c->WithRank(c->input(0), 2, &rows);
    })
    .Doc("Stores the rows gathered from the outstanding plan's evict_slots (in that order).");

class AscCommitEvictedOp : public TableKernel {
 public:
  explicit AscCommitEvictedOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    const Tensor& rows = ctx->input(0);
    OP_REQUIRES(ctx, rows.dim_size(1) == table->row_width(),
                errors::InvalidArgument("evicted rows of table '", table->name(), "' must have ",
                                        table->row_width(), " columns, got ", rows.dim_size(1)));
    OP_REQUIRES_OK(ctx, ToTfStatus(table->CommitEvicted(rows.dim_size(0), rows.flat<float>().data())));
  }
};

REGISTER_KERNEL_BUILDER(Name("AscCommitEvicted").Device(DEVICE_CPU), AscCommitEvictedOp);

REGISTER_OP("AscFindRows")
    .Input("keys: T")
    .Output("slots: int64")
    .Output("host_rows: float")
    .Output("found: bool")
    .Attr("T: {int32, int64}")
    .Attr("table_name: string")
    .Attr("row_width: int >= 1")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &keys));
      int64_t width;
      TF_RETURN_IF_ERROR(c->GetAttr("row_width", &width));
      c->set_output(0, keys);
      c->set_output(1, c->Matrix(c->Dim(keys, 0), width));
      c->set_output(2, keys);
      return OkStatus();
    })
    .Doc(R"doc(
Eval read of a DDR-mode table; never inserts or moves rows. slots[i] is the
device slot of keys[i], or -1 when the key is on the host tier (its row is
then host_rows[i]) or absent (found[i] false).
)doc");

template <typename K>
class AscFindRowsOp : public TableKernel {
 public:
  explicit AscFindRowsOp(OpKernelConstruction* ctx) : TableKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("row_width", &row_width_));
  }

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    OP_REQUIRES_OK(ctx, CheckRowWidth(*table, row_width_));
    const Tensor& keys = ctx->input(0);
    const int64_t n = keys.NumElements();
    Tensor* slots = nullptr;
    Tensor* rows = nullptr;
    Tensor* found = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n}), &slots));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({n, row_width_}), &rows));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({n}), &found));
    rows->flat<float>().setZero();
    OP_REQUIRES_OK(ctx, ToTfStatus(table->FindRows<K>(n, keys.flat<K>().data(),
                                                      slots->flat<int64_t>().data(),
                                                      rows->flat<float>().data(),
                                                      found->flat<bool>().data())));
  }

 private:
  int64_t row_width_ = 0;
};

REGISTER_KERNEL_BUILDER(Name("AscFindRows").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscFindRowsOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscFindRows").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscFindRowsOp<int64_t>);

}  // namespace asc_tf
