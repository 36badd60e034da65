// AscTableStats: a table's tier counters as a tensor, for TF summaries.
#include <memory>

#include "asc/table.h"
#include "table_kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscTableStats")
    .Output("stats: int64")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(asc::TableStats::kNumFields));
      return OkStatus();
    })
    .Doc("A table's counters, in the order of asc::TableStats::Fields().");

class AscTableStatsOp : public TableKernel {
 public:
  explicit AscTableStatsOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({asc::TableStats::kNumFields}), &out));
    auto v = out->vec<int64_t>();
    int i = 0;
    for (const auto& field : table->stats().Fields()) v(i++) = field.second;
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableStats").Device(DEVICE_CPU), AscTableStatsOp);

}  // namespace asc_tf
