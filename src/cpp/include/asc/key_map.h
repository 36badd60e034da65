// KeySlotMap: int64 key -> int64 slot, open addressing with linear probing.
//
// Purpose-built for the lookup path: every operation is batched, hashes of a
// batch are computed first and the buckets of keys a few positions ahead are
// prefetched, so cache misses overlap instead of serialising. Erase uses
// backward-shift deletion, so there are no tombstones and probe lengths do not
// rot under eviction churn. Every int64 value is a valid key: the one value
// used as the empty marker is stored out of line.
//
// Chosen over absl::flat_hash_map by measurement (bench/key_map_bench.cc,
// figures in BENCHMARKS.md).
//
// Thread-safety: none. The owner (Table) serialises writers and readers.
#pragma once

#include <cstdint>
#include <climits>
#include <memory>

namespace asc {

class KeySlotMap {
 public:
  static constexpr int64_t kNoSlot = -1;
  // Marks an empty bucket; a real key with this value lives out of line.
  static constexpr int64_t kEmptyKey = INT64_MIN;

  explicit KeySlotMap(int64_t expected_keys = 0);
  ~KeySlotMap();
  KeySlotMap(const KeySlotMap&) = delete;
  KeySlotMap& operator=(const KeySlotMap&) = delete;

  // slots[i] = slot of keys[i], or kNoSlot when absent.
  void FindBatch(int64_t n, const int64_t* keys, int64_t* slots) const;

  // For each absent keys[i], stores keys[i] -> slots[i]. Present keys are left
  // untouched. Keys in one call must be unique. Grows as needed.
  void InsertBatch(int64_t n, const int64_t* keys, const int64_t* slots);

  // Stores keys[i] -> slots[i], inserting absent keys and overwriting the
  // slot of present ones (a key moving between tiers). Keys in one call must
  // be unique. Grows as needed.
  void InsertOrAssignBatch(int64_t n, const int64_t* keys, const int64_t* slots);

  // Removes keys; slots_out[i] (if non-null) gets the removed slot or kNoSlot.
  // Returns the number of keys removed.
  int64_t EraseBatch(int64_t n, const int64_t* keys, int64_t* slots_out);

  // Calls fn(key, slot) for every entry, in unspecified order.
  template <typename Fn>
  void ForEach(Fn&& fn) const;

  int64_t size() const { return size_; }
  int64_t bucket_count() const { return mask_ + 1; }
  // Heap bytes held by the map (for memory-per-key reporting).
  int64_t memory_bytes() const;

 private:
  struct Bucket {
    int64_t key;
    int64_t slot;
  };
  void Rehash(int64_t new_bucket_count);
  void InsertOne(int64_t key, int64_t slot, uint64_t hash, bool assign);
  template <bool kAssign>
  void InsertBatchImpl(int64_t n, const int64_t* keys, const int64_t* slots);

  std::unique_ptr<Bucket[]> buckets_;
  int64_t mask_ = 0;
  int64_t size_ = 0;
  bool has_empty_key_ = false;  // the key equal to kEmptyKey, stored aside
  int64_t empty_key_slot_ = kNoSlot;
};

template <typename Fn>
void KeySlotMap::ForEach(Fn&& fn) const {
  if (has_empty_key_) fn(kEmptyKey, empty_key_slot_);
  for (int64_t i = 0; i <= mask_; ++i) {
    if (buckets_[i].key != kEmptyKey) fn(buckets_[i].key, buckets_[i].slot);
  }
}

}  // namespace asc
