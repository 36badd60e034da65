// KeyAdmission: feature admission and eviction state (FAAE) of one table.
//
// Every key a training lookup sees gets a record: an occurrence count,
// weighted by the looking-up feature's coefficient, and the time it was last
// seen. A key is admitted (may hold a row) once its count reaches
// access_threshold; until then lookups read the default value, it takes no
// update and occupies no row, but its count keeps growing. Time is whatever
// the caller passes: a batch timestamp (seconds) or a step number. A key is
// stale when it was last seen more than eviction_threshold time units before
// the latest time any lookup passed (clock()); TakeStale removes stale
// records so the owner can drop their keys from every tier.
//
// Records live in a KeySlotMap (key -> record index) over parallel arrays, so
// Record/Admitted are O(batch); TakeStale scans every record and is meant to
// run periodically (EvictHook), not per step.
//
// Thread-safety: none. The owner (Table) serialises access.
#pragma once

#include <cstdint>
#include <vector>

#include "asc/key_map.h"
#include "asc/slot_allocator.h"
#include "asc/status.h"

namespace asc {

// What one Record call changed, so that Undo can take it back.
struct AdmissionUndo {
  std::vector<int64_t> keys;
  std::vector<int64_t> added;      // weight actually added (after saturation)
  std::vector<int64_t> last_seen;  // last-seen time before the call
  std::vector<uint32_t> last_call; // the call that had set it
  std::vector<uint8_t> created;    // 1 where the call created the record
  int64_t time = 0;                // the call's time
  int64_t clock = 0;               // clock() before the call
  uint32_t call = 0;               // the call's sequence number
  uint32_t clock_call = 0;         // the call that had set the clock
};

struct AdmissionOptions {
  // Weighted occurrences a key needs before it is admitted, >= 1.
  int64_t access_threshold = 1;
  // Time units a key may go unseen before TakeStale removes it; 0 = never.
  int64_t eviction_threshold = 0;

  static constexpr int64_t kMaxThreshold = int64_t{1} << 62;
  // InvalidArgument naming the field and its range.
  Status Validate() const;
  bool operator==(const AdmissionOptions& o) const {
    return access_threshold == o.access_threshold && eviction_threshold == o.eviction_threshold;
  }
};

class KeyAdmission {
 public:
  explicit KeyAdmission(const AdmissionOptions& options);

  const AdmissionOptions& options() const { return options_; }

  // Adds weights[i] (>= 0, saturating) to keys[i]'s count and marks it seen
  // at `time` (a record never goes back in time). Keys must be unique. When
  // `undo` is given it receives what Undo needs to take the call back.
  void Record(int64_t n, const int64_t* keys, const int64_t* weights, int64_t time,
              AdmissionUndo* undo = nullptr);

  // Takes back a Record call: subtracts what it added (never below 0),
  // restores the last-seen times of keys no later call recorded, forgets
  // records it created that are back to 0, and restores the clock if no
  // later call moved it. Records forgotten meanwhile are skipped.
  void Undo(const AdmissionUndo& undo);

  // admitted[i] = whether keys[i]'s count reached access_threshold.
  void Admitted(int64_t n, const int64_t* keys, bool* admitted) const;

  // Moves the keys of every stale record into *keys (cleared first) and
  // forgets those records. No-op when eviction_threshold == 0.
  void TakeStale(std::vector<int64_t>* keys);

  // Forgets the records of keys (absent keys are ignored).
  void Forget(int64_t n, const int64_t* keys);

  // Serialisable state: every record, in unspecified order.
  void Export(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
              std::vector<int64_t>* last_seen) const;
  // Replaces every record with the given ones (keys unique; counts >= 0).
  // InvalidArgument (and nothing changes) otherwise.
  Status Import(int64_t n, const int64_t* keys, const int64_t* counts, const int64_t* last_seen);
  // The records of keys[0..n) that have one.
  void ExportOf(int64_t n, const int64_t* keys, std::vector<int64_t>* out_keys,
                std::vector<int64_t>* counts, std::vector<int64_t>* last_seen) const;
  // Adds or replaces the records of keys[0..n), keeping the others; same
  // checks as Import.
  Status Merge(int64_t n, const int64_t* keys, const int64_t* counts, const int64_t* last_seen);

  // Latest time passed to Record (0 before the first call).
  int64_t clock() const { return clock_; }
  // Raises the latest time to `time` (a checkpoint's clock(), after Import).
  void SetClock(int64_t time);
  int64_t size() const { return index_.size(); }
  int64_t memory_bytes() const;

 private:
  int64_t RecordOf(int64_t key);  // record index, created when absent

  AdmissionOptions options_;
  KeySlotMap index_;  // key -> record
  SlotAllocator records_;
  std::vector<int64_t> key_;  // per record; meaningful while the record is live
  std::vector<int64_t> count_;
  std::vector<int64_t> last_seen_;
  // Per record: the Record call that last touched it (sequence numbers, so
  // Undo can tell a later call at the same time from the undone one).
  std::vector<uint32_t> last_call_;
  // Record indices of the current call; mutable so the read-only Admitted
  // reuses it instead of allocating per lookup (the owner serialises calls).
  mutable std::vector<int64_t> scratch_;
  int64_t clock_ = 0;
  uint32_t clock_call_ = 0;  // the call that last set clock_ (0: none)
  uint32_t calls_ = 0;       // Record calls so far (wraps; 0 is skipped)
};

}  // namespace asc
