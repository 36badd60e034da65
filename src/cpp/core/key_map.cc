#include "asc/key_map.h"

#include <algorithm>

#include "hash_mix.h"

namespace asc {
namespace {

constexpr int64_t kMinBuckets = 16;

// Smallest power-of-two bucket count holding `keys` at load factor <= 3/4.
int64_t BucketsFor(int64_t keys) {
  const uint64_t needed = (static_cast<uint64_t>(std::max<int64_t>(keys, 0)) * 4 + 2) / 3;
  return std::max<int64_t>(kMinBuckets, static_cast<int64_t>(internal::NextPowerOfTwo(needed)));
}

}  // namespace

KeySlotMap::KeySlotMap(int64_t expected_keys) {
  const int64_t count = BucketsFor(expected_keys);
  buckets_.reset(new Bucket[count]);
  std::fill_n(buckets_.get(), count, Bucket{kEmptyKey, kNoSlot});
  mask_ = count - 1;
}

KeySlotMap::~KeySlotMap() = default;

int64_t KeySlotMap::memory_bytes() const {
  return bucket_count() * static_cast<int64_t>(sizeof(Bucket));
}

void KeySlotMap::FindBatch(int64_t n, const int64_t* keys, int64_t* slots) const {
  internal::HashedPass(
      n, keys, [this](uint64_t h) { __builtin_prefetch(&buckets_[h & mask_], 0); },
      [&](int64_t i, uint64_t h) {
        const int64_t key = keys[i];
        if (key == kEmptyKey) {
          slots[i] = has_empty_key_ ? empty_key_slot_ : kNoSlot;
          return;
        }
        for (uint64_t b = h & mask_;; b = (b + 1) & mask_) {
          const Bucket& bucket = buckets_[b];
          if (bucket.key == key) {
            slots[i] = bucket.slot;
            return;
          }
          if (bucket.key == kEmptyKey) {
            slots[i] = kNoSlot;
            return;
          }
        }
      });
}

template <bool kAssign>
void KeySlotMap::InsertBatchImpl(int64_t n, const int64_t* keys, const int64_t* slots) {
  internal::HashedPass(
      n, keys, [this](uint64_t h) { __builtin_prefetch(&buckets_[h & mask_], 1); },
      [&](int64_t i, uint64_t h) {
        if (keys[i] != kEmptyKey) {
          InsertOne(keys[i], slots[i], h, kAssign);
        } else if (!has_empty_key_) {
          has_empty_key_ = true;
          empty_key_slot_ = slots[i];
          ++size_;
        } else if (kAssign) {
          empty_key_slot_ = slots[i];
        }
      });
}

void KeySlotMap::InsertBatch(int64_t n, const int64_t* keys, const int64_t* slots) {
  InsertBatchImpl<false>(n, keys, slots);
}

void KeySlotMap::InsertOrAssignBatch(int64_t n, const int64_t* keys, const int64_t* slots) {
  InsertBatchImpl<true>(n, keys, slots);
}

void KeySlotMap::InsertOne(int64_t key, int64_t slot, uint64_t hash, bool assign) {
  uint64_t b = hash & mask_;
  for (;; b = (b + 1) & mask_) {
    if (buckets_[b].key == key) {
      if (assign) buckets_[b].slot = slot;
      return;
    }
    if (buckets_[b].key == kEmptyKey) break;
  }
  // Grow only once the key is known to be absent, so re-inserting present
  // keys never triggers a rehash.
  const int64_t in_table = size_ - (has_empty_key_ ? 1 : 0);
  if ((in_table + 1) * 4 > bucket_count() * 3) {
    Rehash(bucket_count() * 2);
    for (b = hash & mask_; buckets_[b].key != kEmptyKey; b = (b + 1) & mask_) {
    }
  }
  buckets_[b] = Bucket{key, slot};
  ++size_;
}

int64_t KeySlotMap::EraseBatch(int64_t n, const int64_t* keys, int64_t* slots_out) {
  int64_t removed = 0;
  internal::HashedPass(
      n, keys, [this](uint64_t h) { __builtin_prefetch(&buckets_[h & mask_], 1); },
      [&](int64_t i, uint64_t h) {
        const int64_t key = keys[i];
        int64_t slot = kNoSlot;
        if (key == kEmptyKey) {
          if (has_empty_key_) {
            slot = empty_key_slot_;
            has_empty_key_ = false;
            empty_key_slot_ = kNoSlot;
            --size_;
            ++removed;
          }
          if (slots_out != nullptr) slots_out[i] = slot;
          return;
        }
        uint64_t hole = h & mask_;
        for (; buckets_[hole].key != key; hole = (hole + 1) & mask_) {
          if (buckets_[hole].key == kEmptyKey) {
            if (slots_out != nullptr) slots_out[i] = kNoSlot;
            return;
          }
        }
        slot = buckets_[hole].slot;
        // Backward shift: walk the rest of the probe run and pull back every
        // entry whose home bucket does not lie in (hole, j]; such an entry
        // would otherwise become unreachable past the new empty bucket.
        const uint64_t mask = static_cast<uint64_t>(mask_);
        for (uint64_t j = (hole + 1) & mask; buckets_[j].key != kEmptyKey; j = (j + 1) & mask) {
          const uint64_t home = internal::MixKey(static_cast<uint64_t>(buckets_[j].key)) & mask;
          if (((j - home) & mask) >= ((j - hole) & mask)) {
            buckets_[hole] = buckets_[j];
            hole = j;
          }
        }
        buckets_[hole] = Bucket{kEmptyKey, kNoSlot};
        --size_;
        ++removed;
        if (slots_out != nullptr) slots_out[i] = slot;
      });
  return removed;
}

void KeySlotMap::Rehash(int64_t new_bucket_count) {
  std::unique_ptr<Bucket[]> old = std::move(buckets_);
  const int64_t old_count = mask_ + 1;
  buckets_.reset(new Bucket[new_bucket_count]);
  std::fill_n(buckets_.get(), new_bucket_count, Bucket{kEmptyKey, kNoSlot});
  mask_ = new_bucket_count - 1;
  for (int64_t i = 0; i < old_count; ++i) {
    if (old[i].key == kEmptyKey) continue;
    uint64_t b = internal::MixKey(static_cast<uint64_t>(old[i].key)) & mask_;
    while (buckets_[b].key != kEmptyKey) b = (b + 1) & mask_;
    buckets_[b] = old[i];
  }
}

}  // namespace asc
