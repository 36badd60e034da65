// Private to libasc: HostStore, the host tier of a DDR-mode table with what
// it knows about each row: the key that owns it and the key's access count
// (for demotion to SSD, least frequently used first).
//
// Rows live in a HostTier; this class adds per-row metadata (held, owner key,
// count, demotion mark) and picks demotion victims by sampling: the lowest
// count among up to 16 random held rows not excluded in the current epoch
// (64 draws at most), so a pick is O(1). Only when no draw qualifies (few
// rows do: a host tier not much larger than one batch) does a scan from a
// random start find one. One epoch covers one lookup: BeginDemotion starts
// it, Exclude keeps the rows the lookup loads out of it, and every victim is
// excluded once picked.
//
// Thread-safety: none. The owner serialises (Table: under its exclusive lock;
// const accessors also under its shared lock).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "asc/host_tier.h"
#include "sample_rng.h"

namespace asc {
namespace internal {

class HostStore {
 public:
  // Rows of row_width >= 1 floats, at most capacity >= 0 (0 in HBM mode).
  // rng: the table's sampling generator, shared with the device victim
  // policy; must outlive this object.
  HostStore(int64_t row_width, int64_t capacity, SampleRng* rng);

  int64_t row_width() const { return rows_->row_width(); }
  int64_t capacity() const { return rows_->capacity(); }
  int64_t size() const { return rows_->size(); }

  // The row_width() floats of `row`. Precondition: row was allocated at
  // least once (HostTier::Row).
  float* Row(int64_t row) { return rows_->Row(row); }
  const float* Row(int64_t row) const { return rows_->Row(row); }

  // A row for `key`, accessed `freq` times; its floats are unspecified.
  // Precondition: size() < capacity().
  int64_t Allocate(int64_t key, uint32_t freq);
  // Frees `row`. Precondition: row is allocated.
  void Release(int64_t row);
  // The owner key and access count of allocated `row`.
  int64_t key(int64_t row) const { return meta_[static_cast<size_t>(row)].key; }
  uint32_t freq(int64_t row) const { return meta_[static_cast<size_t>(row)].freq; }

  // Replaces the tier by an empty one of rows of `row_width` floats (same
  // capacity); keeps the demotion epoch and the generator. Precondition:
  // size() == 0.
  void Reset(int64_t row_width);

  // ---- demotion ----
  // Starts a demotion epoch: every held row is a candidate again.
  void BeginDemotion() { ++epoch_; }
  // Keeps allocated `row` from being picked in this epoch.
  void Exclude(int64_t row) { meta_[static_cast<size_t>(row)].mark = epoch_; }
  // A held row not excluded in this epoch, sampled as the file comment says;
  // excludes it. Draws from the shared generator. Precondition: such a row
  // exists.
  int64_t SampleDemotionVictim();

  // Heap bytes held: rows plus metadata.
  int64_t memory_bytes() const;

 private:
  // Per row ever issued.
  struct RowMeta {
    int64_t key = 0;
    uint64_t mark = 0;  // == epoch_: not a demotion candidate now
    uint32_t freq = 0;  // lookups of the key (saturating), carried across tiers
    bool held = false;
  };

  std::unique_ptr<HostTier> rows_;
  std::vector<RowMeta> meta_;  // indexed by row; size = rows ever issued
  uint64_t epoch_ = 0;
  SampleRng* const rng_;
};

}  // namespace internal
}  // namespace asc
