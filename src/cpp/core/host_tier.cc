#include "asc/host_tier.h"

namespace asc {
namespace {

// A chunk holds at most this many rows and, for wide rows, at most about
// kMaxChunkBytes, so one allocation stays modest whatever the row width.
constexpr int64_t kMaxRowsPerChunk = int64_t{1} << 14;
constexpr int64_t kMaxChunkBytes = int64_t{8} << 20;

// log2 of the rows per chunk: the largest power of two within both limits,
// and no larger than needed to hold `capacity` rows (a small table should not
// pay for a full chunk). Always at least one row.
int ChunkShift(int64_t row_width, int64_t capacity) {
  const int64_t row_bytes = row_width * static_cast<int64_t>(sizeof(float));
  int shift = 0;
  while ((int64_t{2} << shift) <= kMaxRowsPerChunk && (int64_t{2} << shift) * row_bytes <= kMaxChunkBytes &&
         (int64_t{1} << shift) < capacity) {
    ++shift;
  }
  return shift;
}

}  // namespace

HostTier::HostTier(int64_t row_width, int64_t capacity)
    : row_width_(row_width),
      capacity_(capacity),
      chunk_shift_(ChunkShift(row_width, capacity)),
      chunk_mask_((int64_t{1} << chunk_shift_) - 1) {}

int64_t HostTier::Allocate() {
  if (!free_.empty()) {
    const int64_t row = free_.back();
    free_.pop_back();
    return row;
  }
  if ((high_water_ & chunk_mask_) == 0) {
    // Uninitialised on purpose: every row is written before it is read.
    chunks_.emplace_back(new float[static_cast<size_t>(rows_per_chunk() * row_width_)]);
  }
  return high_water_++;
}

void HostTier::Release(int64_t row) { free_.push_back(row); }

int64_t HostTier::memory_bytes() const {
  return static_cast<int64_t>(chunks_.size()) * rows_per_chunk() * row_width_ *
             static_cast<int64_t>(sizeof(float)) +
         static_cast<int64_t>(chunks_.capacity() * sizeof(chunks_[0]) +
                              free_.capacity() * sizeof(int64_t));
}

}  // namespace asc
