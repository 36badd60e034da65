// Private to libasc: TierSwap, the rows one DDR-mode lookup moves between
// the tiers, in the order the lookup needs them:
//   1. Plan: from what the lookup needs (keys that need a device slot, by
//      where their rows are) and how full the tiers are, how many device
//      slots must be evicted and how many host rows demoted to SSD, or
//      ResourceExhausted when the tiers cannot make room. Pure arithmetic.
//   2. Stage (SSD mode): all SSD I/O of the lookup, before the table changes:
//      reads the rows of the lookup's SSD keys, picks the demotion victims
//      (HostStore sampling), and writes them while erasing the read keys
//      (one SsdTier::Exchange). A failure leaves the SSD tier as it was.
//   3. While the owner applies the plan (key map, slots, pins): it records
//      the rows coming back to the device (AddLoadRow / AddLoadSlot) and the
//      slots leaving it (AddEviction), and hands out the staged rows.
//   4. Transfer: gathers the evicted slots' rows into their host rows, then
//      scatters the loaded rows into their slots.
// Between lookups it only keeps its buffers, reused by the next one.
//
// Thread-safety: none. The owner (Table) serialises (exclusive lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "asc/device_rows.h"
#include "asc/ssd_tier.h"
#include "asc/status.h"
#include "host_store.h"

namespace asc {
namespace internal {

class TierSwap {
 public:
  // The keys of one lookup that need a device slot (unique), by where their
  // rows are now: host tier, SSD tier, or nowhere (new keys: the rest).
  struct Demand {
    int64_t moving = 0;
    int64_t from_host = 0;
    int64_t from_ssd = 0;
  };
  // How full the tiers are before the lookup changes anything.
  struct Room {
    int64_t device_capacity = 0;
    int64_t device_used = 0;     // issued device slots
    int64_t pinned = 0;          // issued slots open steps pin, this lookup's hits included
    int64_t host_size = 0;
    int64_t host_capacity = 0;
    bool has_ssd = false;
    int64_t ssd_size = 0;
    int64_t ssd_capacity = 0;
  };

  // Step 1. Sets victims() and demotions() for `demand` given `room`, or
  // returns ResourceExhausted (the message names `table` and the sizes) and
  // leaves both 0: when the victims needed exceed the unpinned slots, or the
  // host tier (with an SSD tier: host and SSD together) cannot take the
  // evicted rows. Host rows the lookup loads are not demotion candidates.
  Status Plan(const std::string& table, const Demand& demand, const Room& room);
  int64_t victims() const { return victims_; }
  int64_t demotions() const { return demote_; }

  // Step 2, after a successful Plan: when the plan reads from or demotes to
  // SSD, reads the rows of the keys[i] whose locations[i] is on SSD (in call
  // order), samples demotions() victims from `host` (a new demotion epoch;
  // rows of the lookup's host keys excluded) and exchanges them with the
  // read keys on `ssd`. Otherwise stages nothing. The host tier itself does
  // not change. Errors (the SSD tier's, or Internal naming `table` for a key
  // mapped to SSD the SSD tier lacks) leave no demotion staged.
  // Preconditions: locations per KeySlotMap / location.h; `ssd` non-null
  // when the plan needs it; `host` rows have the SSD tier's width.
  Status Stage(const std::string& table, int64_t n, const int64_t* keys, const int64_t* locations,
               HostStore* host, SsdTier* ssd);
  // The host rows Stage demoted and their keys (now on SSD), in pick order.
  const std::vector<int64_t>& demoted_rows() const { return demoted_rows_; }
  const std::vector<int64_t>& demoted_keys() const { return demoted_keys_; }
  // The owner has freed the demoted rows.
  void ClearDemoted() { demoted_rows_.clear(); }

  // Step 3. Starts recording the moves of a lookup with rows of `row_width`
  // floats (forgets the previous lookup's).
  void BeginMoves(int64_t row_width);
  // The j-th row Stage read from SSD. Precondition: j < the SSD keys staged.
  const float* ssd_row(int64_t j) const { return ssd_rows_.data() + j * row_width_; }
  // A row coming back to the device: its data (copied now, so its source
  // may be reused at once), then, once known, its slot; rows and slots pair
  // up in call order.
  void AddLoadRow(const float* data) { load_data_.insert(load_data_.end(), data, data + row_width_); }
  void AddLoadSlot(int64_t slot) { load_slots_.push_back(slot); }
  // Device `slot`'s row leaves for host row `host_row` (written by Transfer).
  void AddEviction(int64_t slot, int64_t host_row) {
    evict_slots_.push_back(slot);
    evict_rows_.push_back(host_row);
  }

  // Step 4: the victims' rows leave before anything is written into their
  // slots. `scratch` is a buffer the caller lends. Returns DeviceRows'
  // error unchanged (rows then partly moved: the caller reports it).
  Status Transfer(DeviceRows* rows, HostStore* host, std::vector<float>* scratch) const;

  // Heap bytes of the row buffers and SSD staging (the move slot lists are
  // not counted, as Table::memory_bytes never counted them).
  int64_t memory_bytes() const;

 private:
  int64_t victims_ = 0;
  int64_t demote_ = 0;
  int64_t from_ssd_ = 0;
  int64_t row_width_ = 0;
  // Staged SSD I/O of the current lookup.
  std::vector<int64_t> ssd_keys_;  // the lookup's keys on SSD, in call order
  std::vector<float> ssd_rows_;    // their rows
  std::unique_ptr<bool[]> ssd_found_;
  int64_t ssd_found_capacity_ = 0;
  std::vector<int64_t> demoted_rows_;  // host rows demoted
  std::vector<int64_t> demoted_keys_;
  std::vector<float> demoted_data_;
  // Recorded moves.
  std::vector<int64_t> evict_slots_;  // victims' slots, rows go to evict_rows_
  std::vector<int64_t> evict_rows_;   // host rows reserved for them
  std::vector<int64_t> load_slots_;   // slots receiving load_data_
  std::vector<float> load_data_;      // rows coming back from host / SSD
};

}  // namespace internal
}  // namespace asc
