// AscTableStats: a table's tier counters as a tensor, for TF summaries.
#include <memory>

#include "asc/table.h"
#include "table_kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

namespace {
// Order of the output; mx_rec/core/tier_stats.py names them in this order.
constexpr int kNumStats = 7;
}  // namespace

REGISTER_OP("AscTableStats")
    .Output("stats: int64")
    .Attr("table_name: string")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(kNumStats));
      return OkStatus();
    })
    .Doc("[device_keys, host_keys, hits, misses, loads, evictions, new_keys] of a table.");

class AscTableStatsOp : public TableKernel {
 public:
  explicit AscTableStatsOp(OpKernelConstruction* ctx) : TableKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    std::shared_ptr<asc::Table> table;
    OP_REQUIRES_OK(ctx, ResolveTable(&table));
    const asc::TableStats s = table->stats();
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({kNumStats}), &out));
    auto v = out->vec<int64_t>();
    v(0) = s.device_keys;
    v(1) = s.host_keys;
    v(2) = s.hits;
    v(3) = s.misses;
    v(4) = s.loads;
    v(5) = s.evictions;
    v(6) = s.new_keys;
  }
};

REGISTER_KERNEL_BUILDER(Name("AscTableStats").Device(DEVICE_CPU), AscTableStatsOp);

}  // namespace asc_tf
