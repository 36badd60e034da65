// Private to libasc: DeviceTier, the device tier of a DDR-mode table seen as
// a cache over the host tier, and its victim policy.
//
// Per device slot: the key it holds and that key's access count (lookups,
// saturating; the owner carries it to the host tier and back, so a key's
// count survives eviction). Every issued slot is in exactly one of two
// recency orders: the hot set (HotSet, hot embedding only) or the cold order
// (a DeviceCache). Victims come from the cold order under the table's
// CachePolicy:
//   LRU: the least recently used slot no open step pins;
//   LFU: the lowest count among the LRU candidate and up to 16 random
//        unpinned cold slots (64 draws at most; ties go to the less recently
//        used); a tier of 16 slots or fewer is scanned whole.
// Only when every cold slot is pinned does the least recently used unpinned
// hot slot become the victim (it leaves the hot set).
//
// Which slot is free and which key owns a slot in the key map are the
// owner's business; this class knows the slots the owner told it about
// (Hold, Use) until the owner frees them (Release).
//
// Thread-safety: none. The owner serialises (Table: under its exclusive lock;
// const accessors also under its shared lock).
#pragma once

#include <cstdint>
#include <vector>

#include "asc/device_cache.h"
#include "asc/table_options.h"
#include "hot_set.h"
#include "sample_rng.h"

namespace asc {
namespace internal {

class SlotStates;

// An access count plus one, saturating at UINT32_MAX.
inline uint32_t BumpCount(uint32_t count) { return count == UINT32_MAX ? count : count + 1; }

class DeviceTier {
 public:
  // slots: the device tier's slot count in DDR mode, 0 in HBM mode (then
  // only Release, hot_size and memory_bytes may be called; Release does
  // nothing). hot_capacity / hot_refresh_steps: see HotSet (0: no hot set).
  // rng: the table's sampling generator, shared with host demotion; must
  // outlive this object.
  DeviceTier(int64_t slots, CachePolicy policy, int64_t hot_capacity, int64_t hot_refresh_steps,
             SampleRng* rng);

  // Slots [0, slots()).
  int64_t slots() const { return cold_.capacity(); }
  // The key held by `slot` and its access count (as last set by Hold /
  // CountUse).
  int64_t key(int64_t slot) const { return keys_[static_cast<size_t>(slot)]; }
  uint32_t freq(int64_t slot) const { return freq_[static_cast<size_t>(slot)]; }
  int64_t hot_size() const { return hot_.size(); }
  const HotSet& hot() const { return hot_; }

  // A lookup found its key on `slot`: one more access.
  void CountUse(int64_t slot) { freq_[static_cast<size_t>(slot)] = BumpCount(freq(slot)); }

  // `slot` now holds `key`, accessed `freq` times. Call Use next.
  void Hold(int64_t slot, int64_t key, uint32_t freq) {
    keys_[static_cast<size_t>(slot)] = key;
    freq_[static_cast<size_t>(slot)] = freq;
  }

  // Records that the key on `slot` (freq() already counts this lookup) was
  // used at `time`: the slot becomes the most recently used of its order; a
  // cold slot may be promoted into the hot set. Returns whether it was a hot
  // hit (a slot found in the hot set). The slot joins the cold order if it
  // was in neither.
  bool Use(int64_t slot, uint64_t time) {
    if (!hot_.enabled()) {
      cold_.Touch(slot, time);
      return false;
    }
    switch (hot_.Touch(slot, freq(slot), time)) {
      case HotSet::Use::kHotHit:
        return true;
      case HotSet::Use::kPromoted:
        if (cold_.Contains(slot)) cold_.Remove(slot);
        return false;
      case HotSet::Use::kCold:
        break;
    }
    cold_.Touch(slot, time);
    return false;
  }

  // `slot` was freed: it leaves whichever order holds it.
  void Release(int64_t slot) {
    if (hot_.Contains(slot)) {
      hot_.Remove(slot);
    } else if (slots() > 0 && cold_.Contains(slot)) {
      cold_.Remove(slot);
    }
  }

  // The slot to evict for a key that needs one (see the file comment); the
  // caller moves its row off and gives the slot a new key (Hold + Use).
  // Pinned slots met at the LRU end become the most recently used at `time`.
  // Draws from the shared generator (LFU with more than 16 slots only).
  // Precondition: some issued slot is unpinned in `states`.
  int64_t Victim(const SlotStates& states, uint64_t time);

  // Hot embedding, at a step's start: HotSet::Refresh over this tier's counts
  // and cold order. Precondition: hot_capacity > 0.
  void RefreshHot(uint64_t time) { hot_.Refresh(time, freq_, &cold_); }

  // Heap bytes held (the hot set's included).
  int64_t memory_bytes() const;

 private:
  const CachePolicy policy_;
  SampleRng* const rng_;
  DeviceCache cold_;  // every issued slot not in hot_, in LRU order
  HotSet hot_;
  std::vector<int64_t> keys_;   // key held by each issued slot
  std::vector<uint32_t> freq_;  // access count of each issued slot's key
};

}  // namespace internal
}  // namespace asc
