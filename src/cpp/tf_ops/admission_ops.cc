// Feature admission and eviction (FAAE) ops: AscAdmit counts a training
// lookup's keys before it is planned; AscEvictStale drops stale keys from
// every tier between steps (EvictHook).
#include <memory>
#include <vector>

#include "asc/table.h"
#include "status_util.h"
#include "table_kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscAdmit")
    .Input("keys: T")
    .Input("n_valid: int32")
    .Input("counts: int32")
    .Input("time: int64")
    .Attr("T: {int32, int64}")
    .Attr("table_name: string")
    .Attr("coefficient: int >= 1 = 1")
    .Attr("begin_step: bool = true")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext*) { return OkStatus(); })
    .Doc(R"doc(
Records the first n_valid unique keys of a training lookup for admission:
each key's count grows by counts[i] * coefficient and it is stamped seen at
`time` (< 0: the table's own training-step count, advanced when begin_step).
Run it before the lookup's AscFindOrInsert / AscPlanLookup, which then give
keys below the table's access_threshold slot -1.
)doc");

template <typename K>
class AscAdmitOp : public TableKernel {
 public:
  explicit AscAdmitOp(OpKernelConstruction* ctx) : TableKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("coefficient", &coefficient_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("begin_step", &begin_step_));
  }

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    const Tensor& keys = ctx->input(0);
    const Tensor& counts = ctx->input(2);
    int64_t n = 0;
    OP_REQUIRES_OK(ctx, ReadValidCount(ctx, keys.NumElements(), &n));
    OP_REQUIRES(ctx, counts.NumElements() == keys.NumElements(),
                errors::InvalidArgument("counts must have one entry per key: ", keys.NumElements(),
                                        " keys, ", counts.NumElements(), " counts"));
    OP_REQUIRES_OK(ctx, ToTfStatus(table->RecordAccess<K>(
                            n, keys.flat<K>().data(), counts.flat<int32_t>().data(), coefficient_,
                            ctx->input(3).scalar<int64_t>()(), begin_step_)));
  }

 private:
  int64_t coefficient_ = 1;
  bool begin_step_ = true;
};

REGISTER_KERNEL_BUILDER(Name("AscAdmit").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscAdmitOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscAdmit").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscAdmitOp<int64_t>);

REGISTER_OP("AscEvictStale")
    .Output("freed_slots: int64")
    .Output("evicted: int64")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(c->UnknownDim()));
      c->set_output(1, c->Scalar());
      return OkStatus();
    })
    .Doc(R"doc(
Removes every key not seen for more than the table's eviction_threshold from
every tier. freed_slots: the device slots freed (the graph re-initialises
their rows); evicted: keys removed.
)doc");

class AscEvictStaleOp : public TableKernel {
 public:
  explicit AscEvictStaleOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    std::vector<int64_t> freed;
    int64_t evicted = 0;
    OP_REQUIRES_OK(ctx, ToTfStatus(table->EvictStale(&freed, &evicted)));
    Tensor* slots = nullptr;
    Tensor* count = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({static_cast<int64_t>(freed.size())}), &slots));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({}), &count));
    std::copy(freed.begin(), freed.end(), slots->flat<int64_t>().data());
    count->scalar<int64_t>()() = evicted;
  }
};

REGISTER_KERNEL_BUILDER(Name("AscEvictStale").Device(DEVICE_CPU), AscEvictStaleOp);

}  // namespace asc_tf
