#include "host_store.h"

namespace asc {
namespace internal {
namespace {

// Demotion victims: the lowest count among this many random held rows.
constexpr int kDemotionSamples = 16;
constexpr int kDemotionTries = 64;

}  // namespace

HostStore::HostStore(int64_t row_width, int64_t capacity, SampleRng* rng)
    : rows_(new HostTier(row_width, capacity)), rng_(rng) {}

int64_t HostStore::Allocate(int64_t key, uint32_t freq) {
  const int64_t row = rows_->Allocate();
  if (row >= static_cast<int64_t>(meta_.size())) meta_.resize(static_cast<size_t>(row) + 1);
  RowMeta& m = meta_[static_cast<size_t>(row)];
  m.key = key;
  m.freq = freq;
  m.held = true;
  return row;
}

void HostStore::Release(int64_t row) {
  rows_->Release(row);
  meta_[static_cast<size_t>(row)].held = false;
}

void HostStore::Reset(int64_t row_width) {
  rows_.reset(new HostTier(row_width, rows_->capacity()));
  meta_.clear();
}

// Sampling misses only when few rows qualify (a host tier not much larger
// than one batch); then a scan from a random start finds one.
int64_t HostStore::SampleDemotionVictim() {
  const int64_t issued = static_cast<int64_t>(meta_.size());
  int64_t best = -1;
  int sampled = 0;
  for (int tries = 0; tries < kDemotionTries && sampled < kDemotionSamples; ++tries) {
    const int64_t row = static_cast<int64_t>(rng_->Next() % static_cast<uint64_t>(issued));
    const RowMeta& m = meta_[static_cast<size_t>(row)];
    if (!m.held || m.mark == epoch_) continue;
    ++sampled;
    if (best < 0 || m.freq < meta_[static_cast<size_t>(best)].freq) best = row;
  }
  if (best < 0) {
    const int64_t start = static_cast<int64_t>(rng_->Next() % static_cast<uint64_t>(issued));
    for (int64_t k = 0; k < issued && best < 0; ++k) {
      const int64_t row = (start + k) % issued;
      const RowMeta& m = meta_[static_cast<size_t>(row)];
      if (m.held && m.mark != epoch_) best = row;
    }
  }
  meta_[static_cast<size_t>(best)].mark = epoch_;
  return best;
}

int64_t HostStore::memory_bytes() const {
  return rows_->memory_bytes() + static_cast<int64_t>(meta_.capacity() * sizeof(RowMeta));
}

}  // namespace internal
}  // namespace asc
