// TableKernel: base of the kernels that act on one libasc table.
//
// The table is resolved by name on every call rather than cached at kernel
// construction: after terminate_config_initializer() drops it, a stale graph
// must fail cleanly instead of writing into an orphaned table.
#pragma once

#include <algorithm>
#include <cstdint>
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

// Reads the n_valid input (index 1) of a lookup over m padded keys.
inline tensorflow::Status ReadValidCount(tensorflow::OpKernelContext* ctx, int64_t m, int64_t* n) {
  *n = ctx->input(1).scalar<int32_t>()();
  if (*n < 0 || *n > m) {
    return tensorflow::errors::InvalidArgument("n_valid must be in [0, ", m, "], got ", *n);
  }
  return tensorflow::OkStatus();
}

// Static-shape padding past the n valid keys: slot 0 (a real row, never read
// through the restore index) and not new.
inline void PadLookup(int64_t n, int64_t m, int64_t* slots, bool* is_new) {
  std::fill(slots + n, slots + m, int64_t{0});
  std::fill(is_new + n, is_new + m, false);
}

// The graph was built for rows of `expected` floats (embedding + optimizer
// state); a table whose layout differs would scatter state into wrong columns.
inline tensorflow::Status CheckRowWidth(const asc::Table& table, int64_t expected) {
  if (table.row_width() != expected) {
    return tensorflow::errors::FailedPrecondition("table '", table.name(), "' moves rows of ",
                                                  table.row_width(),
                                                  " floats, the graph expects ", expected);
  }
  return tensorflow::OkStatus();
}

}  // namespace asc_tf
