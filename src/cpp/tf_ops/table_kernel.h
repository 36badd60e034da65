// TableKernel: base of the kernels that act on one libasc table.
//
// The table is resolved by name on every call rather than cached at kernel
// construction: after terminate_config_initializer() drops it, a stale graph
// must fail cleanly instead of writing into an orphaned table.
#pragma once

#include <memory>
#include <string>

#include "asc/table.h"
#include "asc/table_registry.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace asc_tf {

// Base of the kernels that act on one table, named by the `table_name` attr.
class TableKernel : public tensorflow::OpKernel {
 public:
  explicit TableKernel(tensorflow::OpKernelConstruction* ctx) : tensorflow::OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("table_name", &table_name_));
  }

 protected:
  tensorflow::Status ResolveTable(std::shared_ptr<asc::Table>* table) const {
    *table = asc::TableRegistry::Global().Get(table_name_);
    if (*table == nullptr) {
      return tensorflow::errors::FailedPrecondition(
          "table '", table_name_,
          "' does not exist in libasc: it was never created or was released by "
          "terminate_config_initializer(); call init() and create_table() again");
    }
    return tensorflow::OkStatus();
  }

 private:
  std::string table_name_;
};

}  // namespace asc_tf
