#include "hot_set.h"

#include <algorithm>
#include <functional>

#include "slot_states.h"

namespace asc {
namespace internal {

HotSet::HotSet(int64_t capacity, int64_t device_slots, int64_t refresh_steps)
    : capacity_(capacity),
      refresh_steps_(static_cast<uint64_t>(refresh_steps)),
      order_(capacity > 0 ? device_slots : 0),
      flag_(static_cast<size_t>(capacity > 0 ? device_slots : 0)) {}

int64_t HotSet::TakeLruUnpinned(const SlotStates& states, uint64_t time) {
  const int64_t slot = LruUnpinned(&order_, states, time);
  if (slot >= 0) Remove(slot);
  return slot;
}

void HotSet::Refresh(uint64_t time, const std::vector<uint32_t>& freq, DeviceCache* cold) {
  const uint64_t window = time / refresh_steps_;
  if (window == window_) return;
  window_ = window;
  // The threshold: the capacity_-th largest count of the device keys.
  counts_.clear();
  for (int64_t slot = 0; slot < order_.capacity(); ++slot) {
    if (Contains(slot) || cold->Contains(slot)) counts_.push_back(freq[static_cast<size_t>(slot)]);
  }
  const size_t rank = static_cast<size_t>(capacity_) - 1;
  threshold_ = kMinThreshold;
  if (counts_.size() > rank) {
    std::nth_element(counts_.begin(), counts_.begin() + static_cast<ptrdiff_t>(rank),
                     counts_.end(), std::greater<uint32_t>());
    threshold_ = std::max(kMinThreshold, counts_[rank]);
  }
  leaving_.clear();
  order_.ForEach([&](int64_t slot) {
    const bool idle = order_.LastUsed(slot) + refresh_steps_ < time;
    if (idle || freq[static_cast<size_t>(slot)] < threshold_) leaving_.push_back(slot);
  });
  // Leaving slots stay on the device as the most recently used of `cold`.
  for (int64_t slot : leaving_) {
    Remove(slot);
    cold->Touch(slot, time - 1);
  }
}

int64_t HotSet::memory_bytes() const {
  return order_.memory_bytes() + static_cast<int64_t>(flag_.capacity()) +
         static_cast<int64_t>(counts_.capacity() * sizeof(uint32_t)) +
         static_cast<int64_t>(leaving_.capacity() * sizeof(int64_t));
}

}  // namespace internal
}  // namespace asc
