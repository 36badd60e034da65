// Table: the key -> device-slot index of one embedding table, and every row
// that is not on the device.
//
// libasc owns keys; the caller (TensorFlow) owns the device rows: a
// [capacity, dim] embedding variable plus optimizer-state variables, seen
// through DeviceRows. A Table maps each admitted key to the row index
// ("slot") it occupies there, moves rows between the device and the host /
// SSD tiers itself (through DeviceRows, under its own lock), and hands out
// slots for new keys. All calls are batched; their cost grows with the
// batch, never with the table size.
//
// Modes, fixed at creation (TableOptions):
//   HBM (host_vocabulary_size == 0): every key has a device slot; with
//     dynamic_expansion the device tier grows when full.
//   DDR (host_vocabulary_size > 0): the device tier is a cache (LRU, or
//     sampled LFU) over the host tier, which holds the full rows (embedding,
//     then optimizer state) of keys off the device.
//   SSD (ssd_vocabulary_size > 0): DDR plus an SSD tier (SsdTier) below the
//     host tier. When a lookup needs host rows and the host tier is full,
//     host rows are demoted to SSD, least frequently used first (sampled:
//     the lowest count among up to 16 random host rows per victim, so the
//     cost is O(batch)); keys found on SSD come back to the device with one
//     batched read per lookup. A key is in exactly one tier at any time.
//   Hot embedding (DDR/SSD, hot_vocabulary_size > 0): see TableOptions.
//
// Steps. Everything a training step does to a table happens inside a step
// opened by BeginStep and closed by EndStep (TensorFlow: one session.run).
//   - A slot used by any lookup of an open step is pinned: it is never
//     given to another key, evicted or freed until that step ends, so the
//     step's reads and optimizer updates land on the right rows however many
//     steps run at once (several lookups of a table in a step are fine).
//   - A training lookup is two calls: Lookup maps the keys (inserting new
//     ones, moving rows between tiers) and Fill writes the initial rows of
//     new keys. A new key is "uninitialised" until some step's Fill wrote
//     it: reads treat it as absent, later lookups ask for its row again, and
//     if every step that used it ends without filling it, it is erased.
//   - EndStep(commit=true) keeps what the step did; EndStep(commit=false)
//     (the step failed, or ran no update) takes back the keys it inserted
//     that no other step used meanwhile and the admission counts it added.
//     Row moves between tiers are not undone: they change where a row is,
//     not its value.
// So a step that fails anywhere leaves every key with its row: no key
// without a written row, no half-applied move, nothing outstanding.
//
// Thread-safety: every method may be called concurrently from any thread.
// Readers (Read, Locate, Snapshot, stats) share a lock; writers take it
// exclusively, so a batch is applied atomically with respect to other calls.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "asc/admission.h"
#include "asc/device_rows.h"
#include "asc/key_map.h"
#include "asc/slot_allocator.h"
#include "asc/ssd_tier.h"
#include "asc/status.h"
#include "asc/table_options.h"

namespace asc {

// The parts a Table is composed of; private to libasc (src/cpp/core/).
namespace internal {
class AdmissionGate;
class DeviceTier;
class HostStore;
class SampleRng;
class SlotStates;
class TierSwap;
}  // namespace internal

// Admission record of one training lookup (tables with ConfigureAdmission).
struct KeyAccess {
  // Occurrences of each key in the batch (n entries, each >= 0).
  const int32_t* counts = nullptr;
  // Weight of each occurrence (the feature's faae_coefficient), >= 1.
  int64_t coefficient = 1;
  // Time of the lookup: batch timestamp or global step; < 0 means the table's
  // own count of steps with training lookups.
  int64_t time = -1;
};

// Counters of one table. Key counts are current; the rest are cumulative
// over the table's life and count keys (not occurrences).
struct TableStats {
  int64_t device_keys = 0;  // keys holding a device slot
  int64_t host_keys = 0;    // keys holding a host row (DDR mode)
  int64_t hits = 0;         // looked-up keys already on the device
  int64_t misses = 0;       // looked-up keys not on the device (loads + new_keys)
  int64_t loads = 0;        // host or SSD -> device row moves
  int64_t evictions = 0;    // device -> host row moves
  int64_t new_keys = 0;     // keys inserted by a lookup
  // SSD mode (zero otherwise).
  int64_t ssd_keys = 0;           // keys holding an SSD row (current)
  int64_t ssd_loads = 0;          // SSD -> device row moves (part of loads)
  int64_t demotions = 0;          // host -> SSD row moves
  int64_t ssd_reads = 0;          // rows read from SSD (loads and reads)
  int64_t ssd_writes = 0;         // rows written to SSD
  int64_t ssd_bytes_read = 0;     // row bytes read from SSD
  int64_t ssd_bytes_written = 0;  // row bytes written to SSD
  // Feature admission and eviction (zero without ConfigureAdmission).
  int64_t admission_keys = 0;   // keys with an admission record (current)
  int64_t rejected = 0;         // looked-up keys not admitted (no row)
  int64_t stale_evicted = 0;    // keys removed by EvictStale
  // Hot embedding (zero without it).
  int64_t hot_keys = 0;  // keys in the hot set (current)
  int64_t hot_hits = 0;  // looked-up keys found in a hot slot (part of hits)
  // Steps.
  int64_t open_steps = 0;        // steps begun and not ended (current)
  int64_t rolled_back_keys = 0;  // keys taken back by EndStep(commit=false)

  static constexpr int kNumFields = 21;
  // (name, value) of every counter, in the one order the TF op, the Python
  // binding and TensorBoard summaries share.
  std::array<std::pair<const char*, int64_t>, kNumFields> Fields() const {
    return {{{"device_keys", device_keys}, {"host_keys", host_keys}, {"hits", hits},
             {"misses", misses}, {"loads", loads}, {"evictions", evictions},
             {"new_keys", new_keys}, {"ssd_keys", ssd_keys}, {"ssd_loads", ssd_loads},
             {"demotions", demotions}, {"ssd_reads", ssd_reads}, {"ssd_writes", ssd_writes},
             {"ssd_bytes_read", ssd_bytes_read}, {"ssd_bytes_written", ssd_bytes_written},
             {"admission_keys", admission_keys}, {"rejected", rejected},
             {"stale_evicted", stale_evicted}, {"hot_keys", hot_keys}, {"hot_hits", hot_hits},
             {"open_steps", open_steps}, {"rolled_back_keys", rolled_back_keys}}};
  }
};

// Tier codes reported by Table::Locate.
enum TierCode : int8_t { kTierAbsent = -1, kTierDevice = 0, kTierHost = 1, kTierSsd = 2 };

class Table {
 public:
  using StepId = uint64_t;

  // Validates options; on success *out holds an empty table. In SSD mode this
  // also opens the SSD tier (InvalidArgument naming the path if RocksDB
  // cannot open a database there).
  static Status Create(const TableOptions& options, std::unique_ptr<Table>* out);
  ~Table();

  const TableOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }

  // ---- steps ---------------------------------------------------------------
  // Opens a step: advances the table's step count (the clock of LRU order,
  // hot-set windows and, without timestamps, admission) and, on a hot
  // table, refreshes the hot set when a window ends. O(1) amortised.
  StepId BeginStep();

  // Closes `step`: unpins its slots, erases keys still uninitialised that no
  // open step pins, and, unless `commit`, takes back the keys the step
  // inserted that no other step looked up since (their slots are freed) and
  // the admission counts and last-seen times it recorded. An unknown step is
  // ignored. Never fails. O(keys the step looked up).
  void EndStep(StepId step, bool commit);

  // ---- feature admission and eviction (FAAE) --------------------------------
  // Turns admission on (see KeyAdmission). From then on Lookup gives a key
  // that is absent and not admitted no slot (-1) and no row. Configuring the
  // same options again is a no-op; different ones are FailedPrecondition
  // naming both (InvalidArgument for invalid options).
  Status ConfigureAdmission(const AdmissionOptions& options);
  bool has_admission() const;

  // Removes every key not seen for more than eviction_threshold (relative to
  // the latest recorded time) from every tier and forgets its record, also
  // for keys never admitted. A device slot an open step still pins is freed
  // when that step ends. *evicted: keys held that were removed.
  // FailedPrecondition without an eviction_threshold. O(records): run it
  // periodically, not per step.
  Status EvictStale(int64_t* evicted);

  // Admission records (serialisable state of FAAE); see KeyAdmission.
  // FailedPrecondition without ConfigureAdmission.
  Status ExportAdmission(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
                         std::vector<int64_t>* last_seen) const;
  Status ImportAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                         const int64_t* last_seen);

  // ---- training lookups -----------------------------------------------------
  // Maps the unique keys[0..n) of one training lookup of `step` to device
  // slots and pins them until the step ends.
  //   access     : admission record of the lookup; required exactly when
  //                admission is configured (counted before admission is
  //                decided, so a key can be admitted by this very lookup).
  //   rows       : the device rows. Checked first (uninitialised variables
  //                fail here, changing nothing); rows moving between tiers
  //                (embedding + optimizer state) are read and written
  //                through it; with dynamic expansion it is grown first.
  //   slots   (n): slot of each key; -1 for a key that is not admitted.
  //   needs_init (n): true where the key's row is not written yet (a new key,
  //                or one whose inserting step has not filled it): pass those
  //                slots to Fill before reading them.
  // All or nothing; on error nothing changes:
  //   FailedPrecondition: unknown step; rows not ready (rows.Check); rows
  //     wider than before while rows are off the device (a hash optimizer
  //     added after training moved rows to the host tier); an access record
  //     on a table without admission.
  //   InvalidArgument: n < 0, a key repeated within the call (among keys not
  //     on the device), an int32 table's key outside int32 range, bad access.
  //   ResourceExhausted: HBM without expansion: the new keys do not fit; DDR:
  //     the open steps need more device slots than the device tier has, or
  //     the host tier (SSD mode: and the SSD tier) has no room for the rows
  //     the lookup evicts (the message names the sizes); no SSD path has
  //     ssd_min_free_bytes available.
  //   Internal (SSD mode): an SSD read or write failed (message names the
  //     directory and RocksDB's error). Rows stay where they were; the same
  //     call may be retried once the cause is gone.
  template <typename K>
  Status Lookup(StepId step, int64_t n, const K* keys, const KeyAccess* access, DeviceRows* rows,
                int64_t* slots, bool* needs_init);

  // Writes the initial rows of slots[0..n) (slots Lookup flagged needs_init
  // in `step`) that are still uninitialised: embedding[i * dim, (i+1) * dim)
  // and every optimizer-state block's initial value; a slot some other step
  // filled meanwhile keeps its row. FailedPrecondition for an unknown step or
  // a slot `step` does not pin. O(n + slots the step pinned) when some slot
  // still needs its row, O(n) otherwise.
  Status Fill(StepId step, int64_t n, const int64_t* slots, const float* embedding,
              DeviceRows* rows);

  // ---- reads ----------------------------------------------------------------
  // Evaluation reads; never insert, move or count anything.
  //   out   (n * dim): embedding of keys[i] from whichever tier holds it
  //                    (rows untouched for absent keys);
  //   found (n)      : whether keys[i] is held with a written row.
  // Internal on an SSD read failure.
  template <typename K>
  Status Read(int64_t n, const K* keys, const DeviceRows& rows, float* out, bool* found) const;

  // tier[i] = kTierDevice, kTierHost, kTierSsd or kTierAbsent for keys[i]
  // (absent also for a key whose row is not written yet).
  void Locate(int64_t n, const int64_t* keys, int8_t* tier) const;

  // Removes keys and frees their device slots (once no open step pins
  // them), host rows or SSD rows. Absent keys are ignored. Returns how many
  // keys were removed. (A failed SSD delete leaves unreachable bytes on disk,
  // counted by SsdTier::stats().erase_errors; the keys are removed
  // regardless.)
  template <typename K>
  int64_t Erase(int64_t n, const K* keys);

  // Copies every (key, slot) pair of keys with a written row, in unspecified
  // order; slot is -1 for keys on the host or SSD tier.
  void Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const;

  // ---- checkpoints ------------------------------------------------------------
  // What a table's rows look like from a checkpoint's point of view: keys with
  // full rows (embedding then optimizer state, `rows.width()` floats) and
  // access counts. No slot ever leaves the table. Utilities that write and
  // read files are built on these calls (asc/table_checkpoint.h).

  // One batch of exported keys: rows holds n * width floats.
  struct RowBatch {
    int64_t n = 0;
    int64_t width = 0;
    const int64_t* keys = nullptr;
    const float* rows = nullptr;
    const uint32_t* freq = nullptr;  // access counts (DDR mode; 1 in HBM mode)
  };

  // Calls sink with every key holding a committed, written row, up to
  // `batch` keys per call, hottest first: device keys by access count, then
  // host keys by access count, then SSD keys. Keys that only an open,
  // uncommitted step inserted are left out. Holds the table's shared lock
  // throughout, so the export is one consistent state (writers wait). A
  // status other than OK from sink stops the export and is returned.
  // FailedPrecondition when rows off the device are narrower than `rows`
  // (state added after rows moved off the device); Internal on an SSD read
  // failure.
  template <typename Sink>
  Status Export(const DeviceRows& rows, int64_t batch, Sink&& sink) const;

  // Loads n keys with their full rows (rows_in: n * rows->width() floats) and
  // access counts (freq may be null: 1 each) into the table, after the keys
  // of earlier Import calls: the device tier first, in the given order, while
  // it has room (HBM with dynamic expansion grows it), then the host tier,
  // then the SSD tier. Meant for an empty table being restored.
  //   FailedPrecondition: a step is open; rows not ready (rows->Check).
  //   InvalidArgument: a key repeated or already held; an int32 table's key
  //     out of range.
  //   ResourceExhausted: the keys do not fit the tiers (message names sizes).
  // All or nothing within one call.
  Status Import(int64_t n, const int64_t* keys, const float* rows_in, const uint32_t* freq,
                DeviceRows* rows);

  // ---- change tracking (delta checkpoints) -----------------------------------
  // Keys whose state changed since the last TakeChanges: `touched` (looked up
  // by a committed step: row, optimizer state or admission record may have
  // changed) and `removed` (erased, evicted, or their admission record
  // forgotten; not looked up again since).
  struct Changes {
    std::vector<int64_t> touched;
    std::vector<int64_t> removed;
  };
  // Returns the changes recorded since the previous call and starts a new
  // record; the first call turns tracking on (nothing is recorded before it,
  // so a table that never saves pays nothing). O(changes).
  Changes TakeChanges();
  // Puts back changes taken for a save that then failed.
  void ReturnChanges(const Changes& changes);

  // Like Export, but only of keys[0..n) (keys not holding a committed,
  // written row are skipped).
  template <typename Sink>
  Status ExportKeys(const DeviceRows& rows, int64_t n, const int64_t* keys, int64_t batch,
                    Sink&& sink) const;
  // Admission records of keys[0..n) that have one. FailedPrecondition
  // without admission.
  Status ExportAdmissionOf(int64_t n, const int64_t* keys, std::vector<int64_t>* out_keys,
                           std::vector<int64_t>* counts, std::vector<int64_t>* last_seen) const;
  // Adds or replaces the records of keys[0..n), keeping the others.
  Status MergeAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                        const int64_t* last_seen);

  // The clocks a checkpoint carries: the table's step count (LRU order, hot
  // windows) and, with admission, its latest record time and own clock.
  struct Clocks {
    int64_t steps = 0;
    int64_t admission_time = 0;
    int64_t admission_steps = 0;
  };
  Clocks clocks() const;
  // FailedPrecondition while a step is open; InvalidArgument for a negative
  // clock. Admission clocks are ignored without admission.
  Status SetClocks(const Clocks& clocks);

  int64_t size() const;      // keys held, in all tiers (uninitialised ones too)
  int64_t capacity() const;  // device rows
  int64_t row_width() const;  // floats per row moved between tiers
  int64_t memory_bytes() const;
  TableStats stats() const;

  // SSD mode: the SSD tier's database directories (empty otherwise).
  std::vector<std::string> ssd_directories() const;
  // Test hooks (no-ops without an SSD tier): make every SSD write fail with
  // Internal while on; override one path's free-space threshold.
  void SetSsdWriteFaultForTesting(bool on);
  void SetSsdMinFreeBytesForTesting(size_t path_index, int64_t bytes);

 private:
  // What an open step did, for EndStep. (What its lookups recorded for
  // admission is kept by the admission gate, by step id.)
  struct StepState {
    uint64_t time = 0;                                // the step's LRU / window clock
    std::vector<std::pair<int64_t, int64_t>> pinned;  // (slot, key), one entry per pin
    std::vector<std::pair<int64_t, int64_t>> inserted;  // (slot, key) of keys it inserted
    // Slots of `inserted`, built on first need (a provisional hit or a Fill):
    // most steps never ask.
    std::unordered_set<int64_t> inserted_slots;
    size_t indexed = 0;  // entries of `inserted` already in inserted_slots
    std::vector<int64_t> seen;  // keys its lookups passed (change tracking only)
    bool Inserted(int64_t slot);
  };

  explicit Table(const TableOptions& options);

  // Step bookkeeping (mu_ held exclusively).
  StepState* FindStep(StepId step);
  void Pin(StepState* st, int64_t slot, int64_t key);
  // Drops one pin of `slot`; at zero frees a zombie slot, or erases the key
  // of a slot whose row was never written.
  void Unpin(int64_t slot, int64_t key);
  // Frees a device slot (allocator, slot state, device tier orders).
  void FreeDeviceSlot(int64_t slot);
  // Marks a hit (a device slot) and pins it for `st`: needs_init for an
  // unwritten row, adoption of another step's provisional key.
  void UseHit(StepState* st, int64_t slot, int64_t key, bool* needs_init);

  // Lookup steps (mu_ held exclusively).
  Status PrepareRows(DeviceRows* rows);
  // Grows the device tier to `capacity` slots, its rows first (the only
  // part that can fail).
  Status GrowDevice(int64_t capacity, DeviceRows* rows);
  // FailedPrecondition unless admission is configured (mu_ held).
  Status CheckAdmission() const;
  // Host rows of the current row width (DDR mode), when no row is off the
  // device.
  Status SetRowWidth(int64_t width);
  template <typename K>
  Status CheckKeyRange(int64_t n, const K* keys) const;
  Status LookupHbm(StepState* st, int64_t n, const int64_t* keys, DeviceRows* rows, int64_t* slots,
                   bool* needs_init);
  Status LookupDdr(StepState* st, int64_t n, const int64_t* keys, DeviceRows* rows, int64_t* slots,
                   bool* needs_init);
  // Applies a DDR lookup whose plan and SSD staging succeeded; cannot fail.
  // Records the rows to move in swap_ (TierSwap::Transfer moves them).
  void ApplyPlan(StepState* st, int64_t n, const int64_t* keys, int64_t* slots, bool* needs_init);
  // Export's key order: (key, location, count) of every exportable key,
  // hottest first (mu_ held, shared).
  struct ExportEntry {
    int64_t key;
    int64_t location;
    uint32_t freq;
  };
  // Of keys[0..n) only when keys is not null.
  std::vector<ExportEntry> ExportOrder(int64_t n, const int64_t* keys) const;
  template <typename Sink>
  Status ExportEntries(const DeviceRows& rows, const std::vector<ExportEntry>& order,
                       int64_t batch, Sink& sink) const;
  // Reads the SSD rows of keys and copies the first `floats` floats of row j
  // to out + pos[j] * floats (mu_ held); `what` names the call in messages.
  Status ReadSsdRows(const std::vector<int64_t>& keys, const std::vector<int64_t>& pos,
                     int64_t floats, float* out, const char* what) const;
  // Change tracking (mu_ held exclusively).
  void NoteRemoved(int64_t n, const int64_t* keys);
  // Full rows of entries[0..n) into out (mu_ held, shared).
  Status ExportRows(const DeviceRows& rows, int64_t n, const ExportEntry* entries,
                    float* out) const;
  // Erase with mu_ held.
  int64_t EraseLocked(int64_t n, const int64_t* keys);

  const TableOptions options_;
  int64_t row_width_;
  mutable std::shared_mutex mu_;
  // Everything below is guarded by mu_.
  // Value per key: a device slot, or (DDR mode) where its row is off the
  // device; see src/cpp/core/location.h.
  KeySlotMap map_;
  SlotAllocator slots_;
  std::unordered_map<StepId, StepState> steps_;
  uint64_t clock_ = 0;   // advanced by BeginStep
  TableStats stats_;     // cumulative counters only
  std::vector<int64_t> wide_keys_;     // the call's keys as int64 (exclusive calls)
  std::vector<int64_t> scratch_keys_;  // per-call scratch (exclusive calls)
  std::vector<float> scratch_rows_;
  std::vector<int64_t> fill_slots_;
  // The parts (src/cpp/core/<name>.h), each with its own state.
  std::unique_ptr<internal::SampleRng> rng_;       // shared by device_ and host_ sampling
  std::unique_ptr<internal::SlotStates> states_;   // per device slot: pins and flags
  std::unique_ptr<internal::DeviceTier> device_;   // DDR: slot keys, counts, orders, hot set, victims
  std::unique_ptr<internal::HostStore> host_;      // DDR: host rows, their keys, demotion sampling
  std::unique_ptr<internal::TierSwap> swap_;       // DDR: the rows one lookup moves
  std::unique_ptr<SsdTier> ssd_;                   // SSD mode only
  std::unique_ptr<internal::AdmissionGate> admission_;  // null until ConfigureAdmission
  // Change tracking, on from the first TakeChanges.
  bool tracking_ = false;
  std::unordered_set<int64_t> touched_;
  std::unordered_set<int64_t> removed_;
};

template <typename Sink>
Status Table::ExportEntries(const DeviceRows& rows, const std::vector<ExportEntry>& order,
                            int64_t batch, Sink& sink) const {
  if (batch <= 0) return Status::InvalidArgument("export batch must be > 0");
  const int64_t width = rows.width();
  std::vector<int64_t> keys;
  std::vector<uint32_t> freq;
  std::vector<float> out;
  for (size_t base = 0; base < order.size(); base += static_cast<size_t>(batch)) {
    const int64_t n = std::min<int64_t>(batch, static_cast<int64_t>(order.size() - base));
    keys.resize(static_cast<size_t>(n));
    freq.resize(static_cast<size_t>(n));
    out.resize(static_cast<size_t>(n * width));
    for (int64_t i = 0; i < n; ++i) {
      keys[i] = order[base + i].key;
      freq[i] = order[base + i].freq;
    }
    ASC_RETURN_IF_ERROR(ExportRows(rows, n, order.data() + base, out.data()));
    RowBatch b;
    b.n = n;
    b.width = width;
    b.keys = keys.data();
    b.rows = out.data();
    b.freq = freq.data();
    ASC_RETURN_IF_ERROR(sink(b));
  }
  return Status::OK();
}

template <typename Sink>
Status Table::Export(const DeviceRows& rows, int64_t batch, Sink&& sink) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ExportEntries(rows, ExportOrder(0, nullptr), batch, sink);
}

template <typename Sink>
Status Table::ExportKeys(const DeviceRows& rows, int64_t n, const int64_t* keys, int64_t batch,
                         Sink&& sink) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ExportEntries(rows, ExportOrder(n, keys), batch, sink);
}

}  // namespace asc
