#include "asc/checkpoint_reader.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include "asc/device_rows.h"
#include "asc/table.h"

namespace asc {
namespace {

// Embedding-only device rows in host memory, growing on request.
class MemoryRows : public DeviceRows {
 public:
  explicit MemoryRows(int64_t dim) : dim_(dim) {}

  int64_t width() const override { return dim_; }
  Status Check(int64_t rows) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (rows > rows_) {
      return Status::FailedPrecondition("checkpoint reader holds " + std::to_string(rows_) +
                                        " rows, the table needs " + std::to_string(rows));
    }
    return Status::OK();
  }
  Status Grow(int64_t rows) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (rows > rows_) {
      data_.resize(static_cast<size_t>(rows * dim_));
      rows_ = rows;
    }
    return Status::OK();
  }
  Status Gather(int64_t n, const int64_t* slots, float* out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t i = 0; i < n; ++i) {
      ASC_RETURN_IF_ERROR(InRange(slots[i]));
      std::copy_n(data_.data() + slots[i] * dim_, dim_, out + i * dim_);
    }
    return Status::OK();
  }
  Status Scatter(int64_t n, const int64_t* slots, const float* rows) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t i = 0; i < n; ++i) {
      ASC_RETURN_IF_ERROR(InRange(slots[i]));
      std::copy_n(rows + i * dim_, dim_, data_.data() + slots[i] * dim_);
    }
    return Status::OK();
  }
  Status Initialize(int64_t n, const int64_t* slots, const float* embedding) override {
    return Scatter(n, slots, embedding);
  }
  Status ReadEmbedding(int64_t n, const int64_t* slots, float* out) const override {
    return Gather(n, slots, out);
  }

 private:
  Status InRange(int64_t slot) const {
    if (slot < 0 || slot >= rows_) {
      return Status::Internal("checkpoint reader: row " + std::to_string(slot) +
                              " out of range [0, " + std::to_string(rows_) + ")");
    }
    return Status::OK();
  }

  const int64_t dim_;
  mutable std::mutex mu_;
  int64_t rows_ = 0;
  std::vector<float> data_;
};

// First device capacity of the private table without expected_rows; it
// doubles as rows arrive.
constexpr int64_t kInitialRows = 1 << 16;

}  // namespace

Status ReadTableCheckpoint(const std::string& dir, const CheckpointReadOptions& read,
                           CheckpointRows* out) {
  const int64_t dim = read.dim;
  const int64_t initial =
      std::min(std::max(read.expected_rows, kInitialRows), TableOptions::kMaxCapacity);
  TableOptions options;
  options.name = read.name;
  options.key_dtype = read.key_dtype;
  options.dim = dim;
  options.device_vocabulary_size = initial;
  options.dynamic_expansion = true;
  ASC_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Table> table;
  ASC_RETURN_IF_ERROR(Table::Create(options, &table));
  MemoryRows rows(dim);
  ASC_RETURN_IF_ERROR(rows.Grow(initial));
  CheckpointSchema schema;
  schema.key_dtype = read.key_dtype;
  schema.dim = dim;
  schema.blocks.push_back({"embedding", dim});
  CheckpointSummary summary;
  ASC_RETURN_IF_ERROR(LoadTableCheckpoint(dir, schema, table.get(), &rows, &summary));
  out->dim = dim;
  out->keys.clear();
  out->embedding.clear();
  out->keys.reserve(static_cast<size_t>(summary.rows));
  out->embedding.reserve(static_cast<size_t>(summary.rows * dim));
  return table->Export(rows, int64_t{1} << 16, [out](const Table::RowBatch& batch) {
    out->keys.insert(out->keys.end(), batch.keys, batch.keys + batch.n);
    out->embedding.insert(out->embedding.end(), batch.rows, batch.rows + batch.n * batch.width);
    return Status::OK();
  });
}

}  // namespace asc
