// DeviceCache: least-recently-used order over the slots of a device tier that
// acts as a cache in front of the host tier (DDR mode).
//
// The order is an intrusive doubly linked list held in two int64 arrays
// indexed by slot, so every operation is O(1) and allocation-free after
// construction. Each cached slot also records the time (step clock) that last
// used it. Which slots may not be evicted (pinned by open steps) is the
// owner's business: Victim only names the least recently used slot.
//
// Thread-safety: none. The owner (Table) serialises access.
#pragma once

#include <cstdint>
#include <memory>

namespace asc {

class DeviceCache {
 public:
  // Slots are in [0, capacity). Precondition: capacity >= 0. With
  // `indexed`, the cache also keeps its slots in a dense array (16 more bytes
  // per slot) so Member can draw a random cached slot in O(1).
  explicit DeviceCache(int64_t capacity, bool indexed = false);

  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }
  bool Contains(int64_t slot) const { return prev_[slot] != kAbsent; }

  // Marks `slot` used at `time` and makes it the most recently used, adding
  // it if it is not cached.
  void Touch(int64_t slot, uint64_t time);

  // The least recently used slot, or -1 when the cache is empty. Does not
  // remove the slot.
  int64_t Victim() const {
    const int64_t lru = next_[sentinel()];
    return lru == sentinel() ? -1 : lru;
  }

  // The time that last used cached `slot`.
  uint64_t LastUsed(int64_t slot) const { return last_used_[slot]; }

  // Drops `slot` from the cache. Precondition: Contains(slot).
  void Remove(int64_t slot);

  // Indexed caches only: the cached slots are Member(0) .. Member(size() - 1),
  // in no particular order (it changes as slots are added and removed).
  int64_t Member(int64_t i) const { return members_[i]; }

  // Calls fn(slot) for every cached slot, least recently used first. fn must
  // not change the cache. O(size()).
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (int64_t slot = next_[sentinel()]; slot != sentinel(); slot = next_[slot]) fn(slot);
  }

  // Heap bytes held.
  int64_t memory_bytes() const;

 private:
  static constexpr int64_t kAbsent = -1;  // prev_ value of a slot not cached
  // The list is circular through one extra node: next_[sentinel] is the LRU
  // slot and prev_[sentinel] the MRU slot, so linking needs no end cases.
  int64_t sentinel() const { return capacity_; }
  void Unlink(int64_t slot) {
    next_[prev_[slot]] = next_[slot];
    prev_[next_[slot]] = prev_[slot];
  }

  const int64_t capacity_;
  std::unique_ptr<int64_t[]> prev_;
  std::unique_ptr<int64_t[]> next_;
  std::unique_ptr<uint64_t[]> last_used_;
  // Indexed caches: members_[0, size_) are the cached slots, member_pos_ the
  // index of each (empty arrays otherwise).
  std::unique_ptr<int64_t[]> members_;
  std::unique_ptr<int64_t[]> member_pos_;
  int64_t size_ = 0;
};

}  // namespace asc
