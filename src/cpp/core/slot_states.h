// Private to libasc: SlotStates, what the open steps of a table hold on each
// device slot.
//
// Per issued device slot, one 32-bit word: how many open-step pins it has
// (low bits) and flags about its key and row:
//   uninit      the row is not written yet (a new key no Fill has reached);
//   provisional the key was inserted by an open step and no other step has
//               used it (EndStep(commit=false) may take it back);
//   zombie      the key was erased while the slot was pinned: free the slot
//               when the last pin goes;
//   counted     scratch of one call (CountOnce): counted already.
// It also counts the slots with at least one pin, so a lookup can tell in
// O(1) how many slots are free to become victims.
//
// Which key a slot holds, which step pinned what, and what freeing a slot
// means are the owner's business (Table); this class only keeps the words.
// Hot-path accessors are inline: a lookup touches one word per key.
//
// Thread-safety: none; the owner serialises (Table: writers under its
// exclusive lock, const accessors also under its shared lock).
#pragma once

#include <cstdint>
#include <vector>

#include "asc/device_cache.h"

namespace asc {
namespace internal {

class SlotStates {
 public:
  // What the owner must do after Unpin.
  enum class Unpinned {
    kStillPinned,  // other pins remain
    kKeep,         // no pins left; the slot keeps its key
    kFree,         // no pins left and the key was erased meanwhile: free the slot
    kEraseKey,     // no pins left and no step wrote the row: erase the key, free the slot
  };

  // Slots [0, capacity), all unpinned and without flags. capacity >= 0.
  explicit SlotStates(int64_t capacity) : words_(static_cast<size_t>(capacity), 0) {}

  int64_t capacity() const { return static_cast<int64_t>(words_.size()); }
  // Adds unpinned, flagless slots up to `capacity`. Precondition:
  // capacity >= capacity().
  void Grow(int64_t capacity) { words_.resize(static_cast<size_t>(capacity), 0); }

  // ---- pins (slot in [0, capacity()) everywhere) ----
  bool Pinned(int64_t slot) const { return (word(slot) & kPinMask) != 0; }
  // Starts loading the slot's state into the cache (a batch's slots are
  // scattered over the array: prefetching them first hides the misses).
  void Prefetch(int64_t slot) const { __builtin_prefetch(&words_[static_cast<size_t>(slot)], 1); }
  // Slots with at least one pin.
  int64_t pinned_slots() const { return pinned_slots_; }
  void Pin(int64_t slot) {
    uint32_t& w = word(slot);
    if ((w & kPinMask) == 0) ++pinned_slots_;
    ++w;
  }
  // Drops one pin. Precondition: Pinned(slot). When it was the last, the
  // zombie flag wins over uninit (an erased key needs no second erase).
  Unpinned Unpin(int64_t slot) {
    uint32_t& w = word(slot);
    --w;
    if ((w & kPinMask) != 0) return Unpinned::kStillPinned;
    --pinned_slots_;
    if ((w & kZombie) != 0) return Unpinned::kFree;
    if ((w & kUninit) != 0) return Unpinned::kEraseKey;
    return Unpinned::kKeep;
  }

  // ---- flags ----
  bool Uninit(int64_t slot) const { return (word(slot) & kUninit) != 0; }
  bool Provisional(int64_t slot) const { return (word(slot) & kProvisional) != 0; }
  // The slot now holds a new key (uninit and provisional) / a key whose row
  // moved in from another tier (no flags). Both clear any pins: precondition
  // !Pinned(slot) (a free slot or an evicted one).
  void AssignNewKey(int64_t slot) { word(slot) = kUninit | kProvisional; }
  void AssignMovedKey(int64_t slot) { word(slot) = 0; }
  // Another step used the key: it is no longer the inserting step's to take back.
  void Adopt(int64_t slot) { word(slot) &= ~kProvisional; }
  // Fill wrote the row.
  void MarkWritten(int64_t slot) { word(slot) &= ~kUninit; }
  // The key was erased while pinned; keeps the pins, drops the other flags.
  // Precondition: Pinned(slot).
  void MarkErased(int64_t slot) { word(slot) = (word(slot) & kPinMask) | kZombie; }
  // The slot was freed: no pins, no flags. Does not touch pinned_slots()
  // (a freed slot has no pins by then).
  void Reset(int64_t slot) { word(slot) = 0; }

  // ---- counting within one call ----
  // True the first time an unpinned slot is counted since its ClearCount;
  // false for a pinned slot or one counted already. Every slot counted must
  // get ClearCount before the call returns.
  bool CountOnce(int64_t slot) {
    uint32_t& w = word(slot);
    if ((w & kPinMask) != 0 || (w & kCounted) != 0) return false;
    w |= kCounted;
    return true;
  }
  void ClearCount(int64_t slot) { word(slot) &= ~kCounted; }
  // The same mark for any slot (pinned or not), for membership tests within
  // one call: Mark a set, test others with Marked, ClearCount each marked one.
  void Mark(int64_t slot) { word(slot) |= kCounted; }
  bool Marked(int64_t slot) const { return (word(slot) & kCounted) != 0; }

  // Heap bytes held.
  int64_t memory_bytes() const { return static_cast<int64_t>(words_.capacity() * sizeof(uint32_t)); }

 private:
  static constexpr uint32_t kUninit = 1u << 31;
  static constexpr uint32_t kProvisional = 1u << 30;
  static constexpr uint32_t kZombie = 1u << 29;
  static constexpr uint32_t kCounted = 1u << 28;
  static constexpr uint32_t kPinMask = kCounted - 1;

  uint32_t& word(int64_t slot) { return words_[static_cast<size_t>(slot)]; }
  uint32_t word(int64_t slot) const { return words_[static_cast<size_t>(slot)]; }

  std::vector<uint32_t> words_;
  int64_t pinned_slots_ = 0;
};

// The least recently used slot of `order` that `states` shows unpinned, or -1
// when every slot of it is pinned. Pinned slots met at the LRU end are
// touched at `time` (moved to the MRU end: an open step uses them, so they
// are recently used in fact). O(pinned slots met), at most O(order.size()).
int64_t LruUnpinned(DeviceCache* order, const SlotStates& states, uint64_t time);

}  // namespace internal
}  // namespace asc
