// Private to libasc: HotSet, the hot embedding of a DDR-mode table
// (TableOptions::hot_vocabulary_size): device slots whose keys are looked up
// often enough to be kept out of the victim policy's reach.
//
// A slot joins when its key's access count reaches the threshold and the set
// has room. At a step's start, when the step's time opens a new window of
// hot_refresh_steps steps, the threshold becomes the hot_vocabulary_size-th
// largest count among the device keys (never below 2: a key must come back
// at least once), and slots idle for a whole window or below the new
// threshold leave. A slot that leaves stays on the device, in the owner's
// cold order. Hot slots are given back to the victim policy only when every
// cold slot is pinned (TakeLruUnpinned).
//
// The set keeps its slots in LRU order (a DeviceCache) plus a compact
// membership byte per device slot: the many membership tests of sampled LFU
// (which draws mostly hot slots) stay in cache.
//
// Thread-safety: none. The owner serialises (Table: under its exclusive lock;
// Contains and size also under its shared lock).
#pragma once

#include <cstdint>
#include <vector>

#include "asc/device_cache.h"

namespace asc {
namespace internal {

class SlotStates;

class HotSet {
 public:
  // What Touch did with a slot.
  enum class Use {
    kHotHit,    // the slot is hot: a hot hit
    kPromoted,  // the slot joined the set: the owner takes it out of its cold order
    kCold,      // neither: the owner keeps the slot in its cold order
  };
  // The threshold never drops below this access count.
  static constexpr uint32_t kMinThreshold = 2;

  // capacity: hot_vocabulary_size; 0 disables the set (then only enabled,
  // size, Contains and memory_bytes may be called, and Contains is false).
  // Otherwise device_slots > capacity is the device tier's slot count and
  // refresh_steps >= 1 the window length.
  HotSet(int64_t capacity, int64_t device_slots, int64_t refresh_steps);

  bool enabled() const { return capacity_ > 0; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return order_.size(); }
  // The access count that makes a key hot now.
  uint32_t threshold() const { return threshold_; }

  // Whether device `slot` is hot. O(1).
  bool Contains(int64_t slot) const { return enabled() && flag_[static_cast<size_t>(slot)] != 0; }

  // The key on device `slot`, with access count `freq` (this lookup
  // included), was used at `time`: a hot slot becomes the most recently used
  // hot slot; a cold one joins the set when freq >= threshold() and
  // size() < capacity(). Precondition: enabled().
  Use Touch(int64_t slot, uint32_t freq, uint64_t time) {
    if (flag_[static_cast<size_t>(slot)] != 0) {
      order_.Touch(slot, time);
      return Use::kHotHit;
    }
    if (freq >= threshold_ && order_.size() < capacity_) {
      flag_[static_cast<size_t>(slot)] = 1;
      order_.Touch(slot, time);
      return Use::kPromoted;
    }
    return Use::kCold;
  }

  // Takes `slot` out of the set (the owner gives it a place). Precondition:
  // Contains(slot).
  void Remove(int64_t slot) {
    flag_[static_cast<size_t>(slot)] = 0;
    order_.Remove(slot);
  }

  // Removes and returns the least recently used hot slot that `states` shows
  // unpinned; -1 (set unchanged) when every hot slot is pinned. Pinned slots
  // met on the way become the most recently used at `time` (LruUnpinned).
  int64_t TakeLruUnpinned(const SlotStates& states, uint64_t time);

  // At the start of a step at `time`: when time / refresh_steps is a new
  // window, recomputes the threshold from freq[slot] of every device slot in
  // the set or in `cold`, then moves every hot slot idle for more than a
  // window or counted below the threshold to `cold` as its most recently used
  // (at time - 1). Otherwise does nothing. O(device slots) per window.
  // Preconditions: enabled(); freq has a count per device slot; `cold` does
  // not hold hot slots.
  void Refresh(uint64_t time, const std::vector<uint32_t>& freq, DeviceCache* cold);

  // Heap bytes held.
  int64_t memory_bytes() const;

 private:
  const int64_t capacity_;
  const uint64_t refresh_steps_;
  DeviceCache order_;           // the hot slots, in LRU order
  std::vector<uint8_t> flag_;   // 1 for a hot slot: a compact copy of order_.Contains
  uint64_t window_ = 0;         // current window: time / refresh_steps_
  uint32_t threshold_ = kMinThreshold;
  std::vector<uint32_t> counts_;  // Refresh scratch: counts of the device keys
  std::vector<int64_t> leaving_;  // Refresh scratch
};

}  // namespace internal
}  // namespace asc
