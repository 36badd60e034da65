// Private to libasc: hashing and batched probing shared by the dedup scratch
// table and KeySlotMap. Both use power-of-two tables indexed by the low bits,
// so the mixer must spread every input bit into them: real keys are often
// sequential ids or ids with constant low bits (hashed feature values,
// shifted ids).
#pragma once

#include <algorithm>
#include <cstdint>

namespace asc {
namespace internal {

// The murmur3 fmix64 finalizer: a bijection with full avalanche, a few cycles.
inline uint64_t MixKey(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Smallest power of two >= x (x >= 1).
inline uint64_t NextPowerOfTwo(uint64_t x) {
  return x <= 1 ? 1 : uint64_t{1} << (64 - __builtin_clzll(x - 1));
}

// A batch is hashed kHashChunk keys at a time into a stack array (a tight loop
// the compiler pipelines), then each key's bucket is prefetched
// kPrefetchDistance keys before it is probed: far enough ahead to hide a
// cache miss behind the probes in between, near enough that the line is still
// in L1 when used.
constexpr int64_t kHashChunk = 512;
constexpr int64_t kPrefetchDistance = 12;

// Calls visit(i, MixKey(keys[i])) for i = 0..n-1 in order, having called
// prefetch(hash) for each key kPrefetchDistance visits earlier.
template <typename K, typename PrefetchFn, typename VisitFn>
void HashedPass(int64_t n, const K* keys, PrefetchFn&& prefetch, VisitFn&& visit) {
  uint64_t hashes[kHashChunk];
  for (int64_t base = 0; base < n; base += kHashChunk) {
    const int64_t len = std::min(kHashChunk, n - base);
    for (int64_t j = 0; j < len; ++j) {
      hashes[j] = MixKey(static_cast<uint64_t>(static_cast<int64_t>(keys[base + j])));
    }
    for (int64_t j = 0; j < std::min(kPrefetchDistance, len); ++j) prefetch(hashes[j]);
    for (int64_t j = 0; j < len; ++j) {
      if (j + kPrefetchDistance < len) prefetch(hashes[j + kPrefetchDistance]);
      visit(base + j, hashes[j]);
    }
  }
}

}  // namespace internal
}  // namespace asc
