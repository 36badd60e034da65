// HostTier: the DDR tier of one table: rows of `row_width` floats (embedding
// followed by optimizer state) held in host memory, addressed by row index.
//
// Memory grows with the rows held, a fixed-size chunk at a time: a chunk is
// never reallocated or moved, so growing never copies rows and a row pointer
// stays valid while the row is held. Released rows go to a free list (LIFO)
// and are reused before a new row index is issued; memory is not returned
// to the system until the tier is destroyed.
//
// Thread-safety: none. The owner (Table) serialises access.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace asc {

class HostTier {
 public:
  // Preconditions: row_width >= 1, capacity >= 0. Allocates nothing yet.
  HostTier(int64_t row_width, int64_t capacity);

  int64_t row_width() const { return row_width_; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return high_water_ - static_cast<int64_t>(free_.size()); }
  int64_t available() const { return capacity_ - size(); }
  // Rows per chunk: a power of two chosen from row_width and capacity.
  int64_t rows_per_chunk() const { return int64_t{1} << chunk_shift_; }

  // Returns the index of an unused row; its contents are unspecified.
  // Precondition: available() > 0.
  int64_t Allocate();

  // Returns `row` to the free list. Precondition: row is currently allocated.
  void Release(int64_t row);

  // The row_width floats of `row`. Precondition: row was allocated at least
  // once (its chunk exists).
  float* Row(int64_t row) {
    return chunks_[static_cast<size_t>(row >> chunk_shift_)].get() + (row & chunk_mask_) * row_width_;
  }
  const float* Row(int64_t row) const {
    return chunks_[static_cast<size_t>(row >> chunk_shift_)].get() + (row & chunk_mask_) * row_width_;
  }

  // Heap bytes held: row chunks plus bookkeeping.
  int64_t memory_bytes() const;

 private:
  const int64_t row_width_;
  const int64_t capacity_;
  int chunk_shift_;
  int64_t chunk_mask_;
  std::vector<std::unique_ptr<float[]>> chunks_;
  int64_t high_water_ = 0;     // rows [0, high_water_) were issued at least once
  std::vector<int64_t> free_;  // released rows below high_water_
};

}  // namespace asc
