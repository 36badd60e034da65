// AscEnsureRows: grows a [rows, dim] resource variable in place to at least
// `rows` rows (dynamic expansion of the device tier).
//
// Done in a kernel rather than with tf.cond(assign(concat(...))): the kernel
// holds the variable's mutex while it copies, so two lookups of one table that
// grow it in the same step cannot lose each other's rows, and scatters (which
// take the same mutex) land either before the copy or in the new buffer.
#include <algorithm>
#include <cstring>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace asc_tf {
using namespace tensorflow;  // NOLINT: kernel boilerplate

REGISTER_OP("AscEnsureRows")
    .Input("variable: resource")
    .Input("rows: int64")
    .Input("fill: float")
    .Output("capacity: int64")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Scalar());
      return OkStatus();
    })
    .Doc(R"doc(
Grows the float32 matrix variable to at least `rows` rows; new rows hold
`fill`. Never shrinks. Returns the row count after the call.
)doc");

class AscEnsureRowsOp : public OpKernel {
 public:
  explicit AscEnsureRowsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<Var> var;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &var));
    const int64_t want = ctx->input(1).scalar<int64_t>()();
    const float fill = ctx->input(2).scalar<float>()();
    mutex_lock lock(*var->mu());
    OP_REQUIRES(ctx, var->is_initialized,
                errors::FailedPrecondition("table variable is not initialised; run the "
                                           "global variables initializer first"));
    Tensor* current = var->tensor();
    OP_REQUIRES(ctx, current->dtype() == DT_FLOAT && current->dims() == 2,
                errors::InvalidArgument("AscEnsureRows needs a float32 matrix variable, got ",
                                        DataTypeString(current->dtype()), " ",
                                        current->shape().DebugString()));
    const int64_t have = current->dim_size(0);
    const int64_t dim = current->dim_size(1);
    if (want > have) {
      Tensor grown;
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_FLOAT, TensorShape({want, dim}), &grown));
      float* dst = grown.flat<float>().data();
      std::memcpy(dst, current->flat<float>().data(), sizeof(float) * have * dim);
      std::fill(dst + have * dim, dst + want * dim, fill);
      *current = grown;
    }
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<int64_t>()() = std::max(want, have);
  }
};

REGISTER_KERNEL_BUILDER(Name("AscEnsureRows").Device(DEVICE_CPU).HostMemory("rows").HostMemory("fill"),
                        AscEnsureRowsOp);

}  // namespace asc_tf
