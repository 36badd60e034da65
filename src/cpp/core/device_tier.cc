#include "device_tier.h"

#include "slot_states.h"

namespace asc {
namespace internal {
namespace {

// LFU victims: the lowest count among this many random unpinned slots,
// within a bounded number of draws; a device tier this small or smaller is
// scanned whole instead (exact LFU, still O(1)).
constexpr int kDeviceSamples = 16;
constexpr int kDeviceTries = 64;

}  // namespace

DeviceTier::DeviceTier(int64_t slots, CachePolicy policy, int64_t hot_capacity,
                       int64_t hot_refresh_steps, SampleRng* rng)
    : policy_(policy),
      rng_(rng),
      // LFU draws victims among the cold slots; with hot slots out of cold_
      // most random slots would be hot, so the hot LFU tier draws members.
      cold_(slots, hot_capacity > 0 && policy == CachePolicy::kLfu),
      hot_(hot_capacity, slots, hot_refresh_steps),
      keys_(static_cast<size_t>(slots)),
      freq_(static_cast<size_t>(slots)) {}

int64_t DeviceTier::Victim(const SlotStates& states, uint64_t time) {
  const int64_t lru = LruUnpinned(&cold_, states, time);
  // Every cold slot is pinned, so the precondition leaves an unpinned hot slot.
  if (lru < 0) return hot_.TakeLruUnpinned(states, time);
  if (policy_ != CachePolicy::kLfu) return lru;
  const int64_t capacity = cold_.capacity();
  int64_t best = -1;
  // Lower count wins; on equal counts the less recently used slot. Hot slots
  // are not in cold_. `cached`: the caller knows cold_ holds the slot.
  auto consider = [&](int64_t slot, bool cached = false) {
    if ((!cached && !cold_.Contains(slot)) || states.Pinned(slot)) return false;
    if (best < 0) {
      best = slot;
      return true;
    }
    const uint32_t f = freq(slot);
    const uint32_t bf = freq(best);
    if (f < bf || (f == bf && cold_.LastUsed(slot) < cold_.LastUsed(best))) best = slot;
    return true;
  };
  consider(lru, true);  // a free extra candidate, and the fallback
  if (capacity <= kDeviceSamples) {
    for (int64_t slot = 0; slot < capacity; ++slot) consider(slot);
  } else {
    int sampled = 0;
    // Hot embedding: draw among the members of cold_ (never hot ones), not
    // among all slots, most of which may be hot. Draws are scaled into range
    // by a multiply (no division).
    const bool members = hot_.enabled();
    const uint64_t range = static_cast<uint64_t>(members ? cold_.size() : capacity);
    for (int tries = 0; tries < kDeviceTries && sampled < kDeviceSamples; ++tries) {
      const auto i =
          static_cast<int64_t>((static_cast<unsigned __int128>(rng_->Next()) * range) >> 64);
      if (members ? consider(cold_.Member(i), true) : consider(i)) ++sampled;
    }
  }
  // With few unpinned slots sampling may find none but the LRU slot.
  return best >= 0 ? best : lru;
}

int64_t DeviceTier::memory_bytes() const {
  return cold_.memory_bytes() + hot_.memory_bytes() +
         static_cast<int64_t>(keys_.capacity() * sizeof(int64_t)) +
         static_cast<int64_t>(freq_.capacity() * sizeof(uint32_t));
}

}  // namespace internal
}  // namespace asc
