#include "asc/device_cache.h"

#include <algorithm>

namespace asc {

DeviceCache::DeviceCache(int64_t capacity, bool indexed)
    : capacity_(capacity),
      prev_(new int64_t[static_cast<size_t>(capacity + 1)]),
      next_(new int64_t[static_cast<size_t>(capacity + 1)]),
      last_used_(new uint64_t[static_cast<size_t>(capacity)]()),
      members_(indexed ? new int64_t[static_cast<size_t>(capacity)] : nullptr),
      member_pos_(indexed ? new int64_t[static_cast<size_t>(capacity)] : nullptr) {
  std::fill_n(prev_.get(), capacity, kAbsent);
  prev_[sentinel()] = sentinel();
  next_[sentinel()] = sentinel();
}

void DeviceCache::Touch(int64_t slot, uint64_t time) {
  if (Contains(slot)) {
    Unlink(slot);
  } else {
    if (members_ != nullptr) {
      members_[size_] = slot;
      member_pos_[slot] = size_;
    }
    ++size_;
  }
  last_used_[slot] = time;
  const int64_t mru = prev_[sentinel()];
  prev_[slot] = mru;
  next_[slot] = sentinel();
  next_[mru] = slot;
  prev_[sentinel()] = slot;
}

void DeviceCache::Remove(int64_t slot) {
  Unlink(slot);
  prev_[slot] = kAbsent;
  --size_;
  if (members_ != nullptr) {  // the last member takes the removed one's place
    const int64_t last = members_[size_];
    members_[member_pos_[slot]] = last;
    member_pos_[last] = member_pos_[slot];
  }
}

int64_t DeviceCache::memory_bytes() const {
  return (2 * (capacity_ + 1) + capacity_ + (members_ != nullptr ? 2 * capacity_ : 0)) *
         static_cast<int64_t>(sizeof(int64_t));
}

}  // namespace asc
