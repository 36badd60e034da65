// Batched key de-duplication: the stateless half of a lookup.
//
// Turns one batch of raw keys into (unique keys, occurrence counts, restore
// indices) so that everything stateful downstream works on unique keys only.
// Cost is O(n) in the batch size and independent of any table's size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace asc {

// De-duplicates keys[0..n).
//   unique_out  (capacity n): unique keys, in order of first occurrence.
//   counts_out  (capacity n): counts_out[u] = occurrences of unique_out[u].
//   restore_out (n)         : keys[i] == unique_out[restore_out[i]].
// Any of the three outputs may be nullptr when the caller does not need it,
// except that restore_out is always written when non-null.
// Returns the number of unique keys. n must fit in int32.
//
// Thread-safety: reentrant. Scratch space is thread-local, so concurrent calls
// from different threads are safe and allocation-free after warm-up.
template <typename K>
int64_t DedupKeys(int64_t n, const K* keys, K* unique_out, int32_t* counts_out,
                  int32_t* restore_out);

extern template int64_t DedupKeys<int32_t>(int64_t, const int32_t*, int32_t*, int32_t*, int32_t*);
extern template int64_t DedupKeys<int64_t>(int64_t, const int64_t*, int64_t*, int32_t*, int32_t*);

}  // namespace asc
