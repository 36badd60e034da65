// DeviceCache: least-recently-used order over the slots of a device tier that
// acts as a cache in front of the host tier (DDR mode).
//
// The order is an intrusive doubly linked list held in two int64 arrays
// indexed by slot, so every operation is O(1) and allocation-free after
// construction. Each cached slot also records the step that last used it.
//
// Pinning: a slot used (touched) by any lookup of the current step is never
// returned by Victim for that step, so rows a step has already handed to the
// graph are not reassigned under it (multi-lookup). Steps passed to Touch must
// never decrease; then the slots used in the latest step form the
// most-recent end of the list, and Victim only has to look at the LRU end.
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

  // Marks `slot` used in `step` and makes it the most recently used, adding it
  // if it is not cached. Precondition: step >= every step passed before.
  void Touch(int64_t slot, uint64_t step);

  // The least recently used slot, unless that slot was used in `step`
  // (then every cached slot is pinned by `step`) or the cache is empty: -1.
  // Does not remove the slot.
  int64_t Victim(uint64_t step) const {
    const int64_t lru = next_[sentinel()];
    return lru == sentinel() || last_used_[lru] == step ? -1 : lru;
  }

  // Number of cached slots used in `step` (pinned by it). O(1).
  int64_t PinnedIn(uint64_t step) const { return step == latest_step_ ? pinned_ : 0; }

  // Whether cached `slot` was used in `step`.
  bool UsedIn(int64_t slot, uint64_t step) const { return last_used_[slot] == step; }

  // The step that last used cached `slot`.
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
  uint64_t latest_step_ = 0;  // largest step passed to Touch
  int64_t pinned_ = 0;        // cached slots whose last_used_ == latest_step_
};

}  // namespace asc
