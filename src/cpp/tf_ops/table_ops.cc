// Stateful HBM-mode table ops: AscFindOrInsert (training lookups) and AscFind
// (eval).
#include <algorithm>
#include <memory>
#include <string>

#include "asc/table.h"
#include "asc/table_registry.h"
#include "status_util.h"
#include "table_kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscFindOrInsert")
    .Input("keys: T")
    .Input("n_valid: int32")
    .Output("slots: int64")
    .Output("is_new: bool")
    .Output("capacity: int64")
    .Attr("T: {int32, int64}")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &keys));
      c->set_output(0, keys);
      c->set_output(1, keys);
      c->set_output(2, c->Scalar());
      return OkStatus();
    })
    .Doc(R"doc(
Maps the first n_valid unique keys to device slots, inserting absent keys.
is_new marks keys inserted by this call, whose rows the graph must initialise.
Entries past n_valid (static-shape padding) get slot 0 and is_new false.
capacity is the table's device capacity after the call.
)doc");

template <typename K>
class AscFindOrInsertOp : public TableKernel {
 public:
  explicit AscFindOrInsertOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    const Tensor& keys = ctx->input(0);
    const int64_t m = keys.NumElements();
    int64_t n = 0;
    OP_REQUIRES_OK(ctx, ReadValidCount(ctx, m, &n));
    Tensor* slots = nullptr;
    Tensor* is_new = nullptr;
    Tensor* capacity = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({m}), &slots));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({m}), &is_new));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({}), &capacity));
    int64_t* s = slots->flat<int64_t>().data();
    bool* fresh = is_new->flat<bool>().data();
    OP_REQUIRES_OK(ctx, ToTfStatus(table->FindOrInsert<K>(n, keys.flat<K>().data(), s, fresh,
                                                          &capacity->scalar<int64_t>()())));
    PadLookup(n, m, s, fresh);
  }
};

REGISTER_KERNEL_BUILDER(Name("AscFindOrInsert").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscFindOrInsertOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscFindOrInsert").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscFindOrInsertOp<int64_t>);

REGISTER_OP("AscFind")
    .Input("keys: T")
    .Output("slots: int64")
    .Attr("T: {int32, int64}")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &keys));
      c->set_output(0, keys);
      return OkStatus();
    })
    .Doc("Slots of keys, -1 for keys the table does not hold. Never inserts.");

template <typename K>
class AscFindOp : public TableKernel {
 public:
  explicit AscFindOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    const Tensor& keys = ctx->input(0);
    Tensor* slots = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, keys.shape(), &slots));
    table->Find<K>(keys.NumElements(), keys.flat<K>().data(), slots->flat<int64_t>().data());
  }
};

REGISTER_KERNEL_BUILDER(Name("AscFind").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscFindOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscFind").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscFindOp<int64_t>);

}  // namespace asc_tf
