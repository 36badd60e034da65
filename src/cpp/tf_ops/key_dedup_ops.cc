// AscDedup: the stateless key work of a lookup (dedup, counts, restore).
//
// Pure function of its input, so it may run ahead of the step (inside
// tf.data) as well as in-step.
#include <algorithm>
#include <vector>

#include "asc/key_dedup.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscDedup")
    .Input("keys: T")
    .Output("unique: T")
    .Output("restore: int32")
    .Output("counts: int32")
    .Output("n_valid: int32")
    .Attr("T: {int32, int64}")
    .Attr("send_count: int >= 0 = 0")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle keys;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &keys));
      int64_t send_count;
      TF_RETURN_IF_ERROR(c->GetAttr("send_count", &send_count));
      auto unique = send_count > 0 ? c->Vector(send_count) : c->Vector(c->UnknownDim());
      c->set_output(0, unique);
      c->set_output(1, keys);
      c->set_output(2, unique);
      c->set_output(3, c->Scalar());
      return OkStatus();
    })
    .Doc(R"doc(
De-duplicates a batch of keys. unique[restore[i]] == keys[i]; unique is in
order of first occurrence; counts[u] is the number of occurrences. With
send_count > 0 (static shape) unique and counts are padded to send_count
(keys 0, counts 0) and more than send_count unique keys is an error.
n_valid is the number of real unique keys.
)doc");

template <typename K>
class AscDedupOp : public OpKernel {
 public:
  explicit AscDedupOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("send_count", &send_count_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& keys = ctx->input(0);
    const int64_t n = keys.NumElements();
    OP_REQUIRES(ctx, n <= std::numeric_limits<int32_t>::max(),
                errors::InvalidArgument("ids: a batch may hold at most 2^31-1 keys, got ", n));
    Tensor* restore = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({n}), &restore));

    // Unique keys are written into thread-local scratch first: their number is
    // only known after the pass, and the outputs must be sized exactly.
    thread_local std::vector<K> unique_buf;
    thread_local std::vector<int32_t> count_buf;
    unique_buf.resize(n);
    count_buf.resize(n);
    const int64_t n_unique = asc::DedupKeys<K>(n, keys.flat<K>().data(), unique_buf.data(),
                                               count_buf.data(), restore->flat<int32_t>().data());
    OP_REQUIRES(ctx, send_count_ == 0 || n_unique <= send_count_,
                errors::InvalidArgument("send_count=", send_count_, " is smaller than the ", n_unique,
                                        " unique ids of this batch; raise send_count to at least ",
                                        n_unique, " (static shape mode, init(use_dynamic=False))"));
    const int64_t out_len = send_count_ > 0 ? send_count_ : n_unique;
    Tensor* unique = nullptr;
    Tensor* counts = nullptr;
    Tensor* n_valid = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({out_len}), &unique));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({out_len}), &counts));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({}), &n_valid));
    K* u = unique->flat<K>().data();
    int32_t* c = counts->flat<int32_t>().data();
    std::copy_n(unique_buf.data(), n_unique, u);
    std::copy_n(count_buf.data(), n_unique, c);
    std::fill(u + n_unique, u + out_len, K{0});
    std::fill(c + n_unique, c + out_len, 0);
    n_valid->scalar<int32_t>()() = static_cast<int32_t>(n_unique);
  }

 private:
  int64_t send_count_ = 0;
};

REGISTER_KERNEL_BUILDER(Name("AscDedup").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
                        AscDedupOp<int32_t>);
REGISTER_KERNEL_BUILDER(Name("AscDedup").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
                        AscDedupOp<int64_t>);

}  // namespace asc_tf
