#include "asc/key_dedup.h"

#include <vector>

#include "hash_mix.h"

namespace asc {
namespace {

struct DedupBucket {
  int64_t key;
  uint32_t epoch;        // bucket is occupied only if this equals the call's epoch
  int32_t unique_index;
};

// Per-thread open-addressing table reused by every call on that thread.
// Stamping buckets with a per-call epoch makes "clear the table" free, so a
// small batch after a large one costs O(small), not O(largest table so far).
class DedupScratch {
 public:
  // Makes at least `bucket_count` buckets read as empty and returns them.
  DedupBucket* Begin(uint64_t bucket_count) {
    if (bucket_count > buckets_.size()) {
      buckets_.assign(bucket_count, DedupBucket{0, 0, 0});
      epoch_ = 0;
    }
    if (++epoch_ == 0) {
      // After 2^32 calls a stale stamp could equal the new epoch.
      for (DedupBucket& b : buckets_) b.epoch = 0;
      epoch_ = 1;
    }
    return buckets_.data();
  }
  uint32_t epoch() const { return epoch_; }

 private:
  std::vector<DedupBucket> buckets_;
  uint32_t epoch_ = 0;
};

thread_local DedupScratch tls_scratch;

}  // namespace

template <typename K>
int64_t DedupKeys(int64_t n, const K* keys, K* unique_out, int32_t* counts_out,
                  int32_t* restore_out) {
  if (n <= 0) return 0;
  // Load factor <= 1/2 keeps linear-probe runs short.
  const uint64_t mask = internal::NextPowerOfTwo(2 * static_cast<uint64_t>(n)) - 1;
  DedupBucket* table = tls_scratch.Begin(mask + 1);
  const uint32_t epoch = tls_scratch.epoch();

  int32_t num_unique = 0;
  internal::HashedPass(
      n, keys, [table, mask](uint64_t h) { __builtin_prefetch(&table[h & mask], 1); },
      [&](int64_t i, uint64_t h) {
        const int64_t key = keys[i];
        uint64_t b = h & mask;
        while (table[b].epoch == epoch && table[b].key != key) b = (b + 1) & mask;
        DedupBucket& bucket = table[b];
        int32_t u;
        if (bucket.epoch != epoch) {
          u = num_unique++;
          bucket = DedupBucket{key, epoch, u};
          if (unique_out != nullptr) unique_out[u] = keys[i];
          if (counts_out != nullptr) counts_out[u] = 1;
        } else {
          u = bucket.unique_index;
          if (counts_out != nullptr) ++counts_out[u];
        }
        if (restore_out != nullptr) restore_out[i] = u;
      });
  return num_unique;
}

template int64_t DedupKeys<int32_t>(int64_t, const int32_t*, int32_t*, int32_t*, int32_t*);
template int64_t DedupKeys<int64_t>(int64_t, const int64_t*, int64_t*, int32_t*, int32_t*);

}  // namespace asc
