// Table: the key -> device-slot index of one embedding table.
//
// libasc owns keys; TensorFlow owns the device rows (a [capacity, dim]
// variable per table, plus optimizer slots). A Table maps each admitted key to
// the row index ("slot") it occupies in those variables and hands out slots
// for new keys. All calls are batched; their cost grows with the batch, never
// with the table size.
//
// Two modes, fixed at creation:
//   HBM (host_capacity == 0): every key has a device slot; FindOrInsert.
//   DDR (host_capacity > 0): the device tier is a cache (LRU by default,
//     sampled LFU with device_policy = kLfu) of
//     device_capacity slots; keys not on the device keep their row (row_width
//     floats: embedding then optimizer state) in the host tier. Lookups go
//     through PlanLookup + CommitEvicted, which tell the graph which rows to
//     move between the device variables and libasc.
//   SSD (ssd_capacity > 0, needs host_capacity > 0): DDR mode plus an SSD
//     tier (SsdTier, RocksDB under ssd_paths) below the host tier. When a
//     lookup needs host rows and the host tier is full, PlanLookup first
//     demotes host rows to SSD, least frequently used first (sampled: the
//     lowest access count among up to 16 random held host rows per victim,
//     so the cost is O(batch), never O(table)); keys found on SSD come back to
//     the device with one batched read per lookup, exactly like host rows
//     (they appear in load_slots / load_rows) and are erased from SSD. A key
//     is in exactly one tier at any time.
//   Hot embedding (DDR/SSD mode, hot_capacity > 0): up to hot_capacity device
//     slots hold "hot" keys, which are never victims of either device policy
//     while they are hot; see TableOptions::hot_capacity.
//
// Thread-safety: every method may be called concurrently from any thread.
// Readers (Find, FindRows, Locate, Snapshot, stats) share a lock; writers
// (FindOrInsert, PlanLookup, CommitEvicted, Erase) take it exclusively, so a
// batch is applied atomically with respect to other calls.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "asc/admission.h"
#include "asc/device_cache.h"
#include "asc/host_tier.h"
#include "asc/key_map.h"
#include "asc/slot_allocator.h"
#include "asc/ssd_tier.h"
#include "asc/status.h"

namespace asc {

enum class KeyType { kInt32, kInt64 };

const char* KeyTypeName(KeyType t);

// How the device tier of a DDR/SSD-mode table picks the slot to evict when a
// lookup needs one and none is free.
//   kLru: the least recently used slot not used in the current step (exact).
//   kLfu: the slot with the lowest access count (lookups of its key, carried
//     across tiers, saturating) among the LRU slot and up to 16 random slots
//     (at most 64 draws) not used in the current step, ties going to the less
//     recently used one; every slot is a candidate when the device tier has at
//     most 16 slots (exact LFU). A new key starts at count 1. Counts never decay, so a once-hot key that goes
//     cold stays on the device until hotter keys need its slot.
enum class DevicePolicy { kLru, kLfu };

// "lru" / "lfu"; "unknown" for a value outside the enum.
const char* DevicePolicyName(DevicePolicy p);

struct TableOptions {
  // Unique name in the registry; non-empty.
  std::string name;
  // Key type users feed; int32 tables reject keys outside int32 range.
  KeyType key_type = KeyType::kInt64;
  // Embedding width, 1..kMaxDim. Stored for the edges (TF, checkpoints).
  int64_t dim = 0;
  // Initial number of device rows, 1..kMaxCapacity.
  int64_t device_capacity = 0;
  // When true, a full device tier grows by `growth_factor` instead of failing.
  bool dynamic_expansion = false;
  // Capacity multiplier on expansion; must be > 1.
  double growth_factor = 2.0;
  // Host (DDR) tier rows, 0..kMaxCapacity. 0 selects HBM mode; > 0 selects DDR
  // mode, where the device tier is a fixed-size cache (dynamic_expansion must
  // be false).
  int64_t host_capacity = 0;
  // Floats per row moved between tiers: dim embedding floats followed by the
  // optimizer state. 0 means dim; otherwise in [dim, kMaxRowWidth].
  int64_t row_width = 0;
  // SSD tier rows, 0..kMaxCapacity. > 0 adds an SSD tier below the host tier
  // and needs host_capacity > 0 and at least one path in ssd_paths.
  int64_t ssd_capacity = 0;
  // Existing writable directories; the table stores its rows in
  // <path>/<name> (name sanitised to [A-Za-z0-9_.-]) under each, and removes
  // them when destroyed. New rows go to the first path with at least
  // ssd_min_free_bytes available. Ignored when ssd_capacity == 0.
  std::vector<std::string> ssd_paths;
  int64_t ssd_min_free_bytes = int64_t{256} << 20;
  // Victim policy of the device tier (see DevicePolicy). Only consulted in
  // DDR/SSD mode (host_capacity > 0); an HBM-mode table never evicts. Either
  // way a slot used by any lookup of the current step is never a victim in
  // that step, and choosing a victim costs O(1), so a lookup stays O(batch).
  DevicePolicy device_policy = DevicePolicy::kLru;
  // Hot embedding: at most this many device slots hold hot keys, which are
  // taken out of the victim order of the device tier (LRU list and LFU
  // sampling alike), so a scan of cold keys cannot push them out.
  // 0 (default) turns it off; otherwise in [1, device_capacity - 1] and only
  // with a host tier (host_capacity > 0): in HBM mode nothing is evicted.
  //   Which keys: a key becomes hot when it is looked up (or loaded) with an
  //   access count (the LFU count device_freq_: lookups since it was first
  //   seen, carried across tiers) at or above the hot threshold while the hot
  //   set has room. The threshold starts at 2.
  //   Refresh: every hot_refresh_steps steps (on the step's first lookup) the
  //   threshold becomes the hot_capacity-th largest count among the keys on
  //   the device (at least 2), and a hot key leaves the hot set when its
  //   count is below it or it was not looked up in the last
  //   hot_refresh_steps steps (it stays on the device, as the most recently
  //   used slot of the previous step). So the set converges to the most
  //   looked-up keys and drops keys that went idle (counts never decay, so
  //   idleness is what lets a shifted distribution replace the set). A
  //   refresh costs O(device_capacity) (a selection over the device counts),
  //   i.e. O(device_capacity / hot_refresh_steps) per step amortised; a
  //   lookup costs O(1) per key more.
  //   A step always fits: when a step needs more slots than the non-hot part
  //   of the device has free or unpinned, the least recently used hot slots
  //   not used in the step leave the hot set and become victims, so
  //   PlanLookup fails with ResourceExhausted exactly when it would without
  //   hot embedding (the step's unique keys exceed device_capacity). A slot
  //   used in the current step is never a victim either way.
  //   Erasing a hot key frees its slot and its place in the hot set.
  int64_t hot_capacity = 0;
  // Steps between hot-set refreshes, also how long a hot key may go without
  // a lookup (see hot_capacity), [1, kMaxHotRefreshSteps]. Shorter follows a
  // changing distribution faster but drops keys looked up less often than
  // once per window; the default measured best on Zipf ids (BENCHMARKS.md).
  int64_t hot_refresh_steps = 300;

  static constexpr int64_t kMaxHotRefreshSteps = int64_t{1} << 30;
  static constexpr int64_t kMaxDim = 8192;
  static constexpr int64_t kMaxCapacity = int64_t{1} << 40;
  // Room for the embedding plus up to 15 optimizer-state columns of width dim.
  static constexpr int64_t kMaxRowWidth = kMaxDim * 16;

  bool ddr_mode() const { return host_capacity > 0; }
  bool ssd_mode() const { return ssd_capacity > 0; }
  bool hot_mode() const { return hot_capacity > 0; }
  // row_width with 0 resolved to dim.
  int64_t effective_row_width() const { return row_width == 0 ? dim : row_width; }

  // OK, or InvalidArgument naming the offending field and its allowed range
  // (for ssd_paths: the path that does not exist / is not a directory / is
  // not writable).
  Status Validate() const;
};

// Rows the graph must move for one PlanLookup (DDR mode).
struct SwapPlan {
  // Device slots whose current rows the graph must gather ([e, row_width])
  // and pass to CommitEvicted, in this order, before writing anything into
  // them: the slots now belong to other keys of the lookup.
  std::vector<int64_t> evict_slots;
  // Device slots that receive rows coming back from the host tier...
  std::vector<int64_t> load_slots;
  // ...and those rows, load_slots.size() * row_width floats, row-major.
  std::vector<float> load_rows;
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
  int64_t ssd_reads = 0;          // rows read from SSD (loads and FindRows)
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

  static constexpr int kNumFields = 19;
  // (name, value) of every counter, in the one order the TF op, the Python
  // binding and TensorBoard summaries share.
  std::array<std::pair<const char*, int64_t>, kNumFields> Fields() const {
    return {{{"device_keys", device_keys}, {"host_keys", host_keys}, {"hits", hits},
             {"misses", misses}, {"loads", loads}, {"evictions", evictions},
             {"new_keys", new_keys}, {"ssd_keys", ssd_keys}, {"ssd_loads", ssd_loads},
             {"demotions", demotions}, {"ssd_reads", ssd_reads}, {"ssd_writes", ssd_writes},
             {"ssd_bytes_read", ssd_bytes_read}, {"ssd_bytes_written", ssd_bytes_written},
             {"admission_keys", admission_keys}, {"rejected", rejected},
             {"stale_evicted", stale_evicted}, {"hot_keys", hot_keys}, {"hot_hits", hot_hits}}};
  }
};

// Tier codes reported by Table::Locate.
enum TierCode : int8_t { kTierAbsent = -1, kTierDevice = 0, kTierHost = 1, kTierSsd = 2 };

class Table {
 public:
  // Validates options; on success *out holds an empty table. In SSD mode this
  // also opens the SSD tier (InvalidArgument naming the path if RocksDB
  // cannot open a database there).
  static Status Create(const TableOptions& options, std::unique_ptr<Table>* out);

  const TableOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }

  // ---- feature admission and eviction (FAAE) --------------------------------
  // Turns admission on (see KeyAdmission). From then on FindOrInsert and
  // PlanLookup give a key that is absent and not admitted no slot: slots[i] =
  // -1, is_new[i] = false. Configuring the same options again is a no-op;
  // different ones are FailedPrecondition naming both (InvalidArgument for
  // invalid options).
  Status ConfigureAdmission(const AdmissionOptions& options);
  bool has_admission() const;

  // Records one training lookup's unique keys before it is planned: keys[i]
  // occurred counts[i] times, each weighted by `coefficient` (>= 1), at
  // `time`; time < 0 means the table's own count of training steps, advanced
  // when begin_step (first lookup of the table in a step). FailedPrecondition
  // without ConfigureAdmission; InvalidArgument for n < 0, a negative count,
  // coefficient < 1 or an int32 table's key outside int32 range.
  template <typename K>
  Status RecordAccess(int64_t n, const K* keys, const int32_t* counts, int64_t coefficient,
                      int64_t time, bool begin_step);

  // Removes every key not seen for more than eviction_threshold (relative to
  // the latest recorded time) from every tier and forgets its record, also
  // for keys never admitted. *freed_slots receives the device slots freed
  // (the graph re-initialises their rows), *evicted the number of keys held
  // that were removed. FailedPrecondition without an eviction_threshold, or
  // while a plan's evicted rows are uncommitted. O(records): run it
  // periodically, not per step.
  Status EvictStale(std::vector<int64_t>* freed_slots, int64_t* evicted);

  // Admission records (serialisable state of FAAE); see KeyAdmission.
  // FailedPrecondition without ConfigureAdmission.
  Status ExportAdmission(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
                         std::vector<int64_t>* last_seen) const;
  Status ImportAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                         const int64_t* last_seen);

  // Maps unique keys[0..n) to slots, inserting absent keys.
  //   slots  (n): slot of each key (-1: not admitted, see ConfigureAdmission).
  //   is_new (n): true where the key was inserted by this call (its row must be
  //               initialised by the caller before it is read).
  //   *capacity : device capacity after the call (grown if expansion ran).
  // All or nothing: when the new keys do not fit and expansion is off, returns
  // ResourceExhausted naming the table and sizes and changes nothing. Keys must
  // be unique within the call (use DedupKeys first). An int32 table returns
  // InvalidArgument for a key outside int32 range, also changing nothing.
  // HBM mode only: a DDR-mode table returns FailedPrecondition (PlanLookup).
  template <typename K>
  Status FindOrInsert(int64_t n, const K* keys, int64_t* slots, bool* is_new,
                      int64_t* capacity);

  // DDR mode: maps unique keys[0..n) of one lookup to device slots, moving
  // rows between the tiers as needed, and says which rows the graph must move.
  //   begin_step: true on the first lookup of this table in a training step
  //               (advances the step); false on later lookups of the same
  //               step. A slot used by any lookup of the current step is never
  //               given to another key in that step.
  //   slots  (n): device slot of each key after the call (-1: not admitted).
  //   is_new (n): true where the key was inserted (the graph initialises its
  //               row); such keys occupy no host row.
  //   *plan     : overwritten with the rows to move. The graph must gather
  //               evict_slots' rows and call CommitEvicted before scattering
  //               load_rows into load_slots and initialising new keys' slots.
  // Keys on the host tier come back to the device (their row is copied to
  // plan->load_rows and their host row freed); keys needing a slot take a free
  // one, else a slot not used in this step chosen by options().device_policy
  // (least recently used, or sampled least frequently used) among the slots
  // not in the hot set (a hot slot only when no other is left), whose key
  // moves to a host row reserved now and filled by CommitEvicted.
  // All or nothing; on error nothing changes (not even the step):
  //   FailedPrecondition: HBM-mode table, or the previous plan's evicted rows
  //     were not committed yet.
  //   InvalidArgument: n < 0, a key repeated within the call (among keys not
  //     on the device), or an int32 table's key outside int32 range.
  //   ResourceExhausted: this step needs more device slots than the device
  //     tier has (every slot is pinned by the step), or the host tier has no
  //     room for the evicted rows (SSD mode: nor the SSD tier for the rows
  //     the host tier would demote; the message names all three sizes), or
  //     no SSD path has min_free_bytes available.
  //   Internal (SSD mode): an SSD read or write failed (message names the
  //     directory and RocksDB's error). Nothing changed: rows stay in host
  //     memory, and the same call may be retried once the cause is gone.
  // SSD mode: host rows are demoted (host -> SSD) inside this call, before
  // the plan is applied, so an SSD failure aborts the whole call.
  template <typename K>
  Status PlanLookup(int64_t n, const K* keys, bool begin_step, int64_t* slots, bool* is_new,
                    SwapPlan* plan);

  // Hands libasc the rows of the outstanding plan's evict_slots: rows is
  // [e, row_width] in evict_slots order. A plan with evictions is outstanding
  // from PlanLookup until this call; with none outstanding, only e == 0 is
  // accepted (a no-op, so the graph may call it unconditionally).
  //   InvalidArgument: e differs from the outstanding eviction count (then
  //     nothing changes and the plan stays outstanding).
  Status CommitEvicted(int64_t e, const float* rows);

  // Evaluation read path; never inserts and never changes LRU order.
  //   found     (n): whether keys[i] is held.
  //   slots     (n): device slot of keys[i]; -1 when it is on the host tier
  //                  or absent.
  //   host_rows (n * row_width): for a key on the host or SSD tier, its row is
  //                  copied to host_rows + i * row_width; other rows are
  //                  untouched. SSD keys are read (one batched read) but not
  //                  moved; an SSD read failure is Internal.
  // FailedPrecondition while a plan is outstanding: the host rows of keys it
  // evicted are not filled yet. In HBM mode this is Find plus `found`.
  template <typename K>
  Status FindRows(int64_t n, const K* keys, int64_t* slots, float* host_rows, bool* found) const;

  // slots[i] = device slot of keys[i], or KeySlotMap::kNoSlot when the key is
  // absent or (DDR mode) on the host or SSD tier; never inserts.
  template <typename K>
  void Find(int64_t n, const K* keys, int64_t* slots) const;

  // tier[i] = kTierDevice, kTierHost, kTierSsd or kTierAbsent for keys[i].
  void Locate(int64_t n, const int64_t* keys, int8_t* tier) const;

  // Removes keys and frees their device slots, host rows or SSD rows for
  // reuse. Absent keys are ignored. Returns how many keys were removed. (A
  // failed SSD delete leaves unreachable bytes on disk, counted by
  // SsdTier::stats().erase_errors; the keys are removed regardless.)
  template <typename K>
  int64_t Erase(int64_t n, const K* keys);

  // Copies every (key, slot) pair, in unspecified order; slot is -1 for keys
  // on the host or SSD tier (Locate / FindRows tell more).
  void Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const;

  int64_t size() const;      // keys held, in all tiers
  int64_t capacity() const;  // device rows
  int64_t row_width() const { return row_width_; }
  int64_t memory_bytes() const;
  TableStats stats() const;

  // SSD mode: the SSD tier's database directories (empty otherwise).
  std::vector<std::string> ssd_directories() const;
  // Test hooks (no-ops without an SSD tier): make every SSD write fail with
  // Internal while on; override one path's free-space threshold.
  void SetSsdWriteFaultForTesting(bool on);
  void SetSsdMinFreeBytesForTesting(size_t path_index, int64_t bytes);

 private:
  // Per host row (DDR mode): owner key and LFU access count, for demotion.
  struct HostRowMeta {
    int64_t key = 0;
    uint64_t mark = 0;   // == demote_epoch_: not a demotion candidate now
    uint32_t freq = 0;   // lookups of the key (saturating), carried across tiers
    bool held = false;
  };
  int64_t AllocateHostRow(int64_t key, uint32_t freq);
  void ReleaseHostRow(int64_t row);
  int64_t SampleDemotionVictim();
  // The device slot to evict in `step` under options_.device_policy, among
  // the non-hot slots; when every one of them is used in `step`, the least
  // recently used hot slot not used in `step`, which leaves the hot set.
  // Precondition: a device slot not used in `step` exists.
  int64_t DeviceVictim(uint64_t step);
  // Hot embedding. IsHot: whether device `slot` is in the hot set. Unhot:
  // takes a hot slot out of the set (the caller gives it a place).
  // UseDeviceSlot: records that the key on `slot` (device_freq_ already
  // counts this lookup) was looked up in `step`, counting a hot hit or
  // promoting the key when it qualifies. RefreshHot: on the first lookup of
  // `step`, refreshes the threshold and the set when `step` opens a window.
  bool IsHot(int64_t slot) const {
    return options_.hot_mode() && hot_flag_[static_cast<size_t>(slot)] != 0;
  }
  void Unhot(int64_t slot) {
    hot_flag_[static_cast<size_t>(slot)] = 0;
    hot_cache_.Remove(slot);
  }
  void UseDeviceSlot(int64_t slot, uint64_t step);
  void RefreshHot(uint64_t step);
  uint64_t NextRandom();

  explicit Table(const TableOptions& options);
  template <typename K>
  Status CheckKeyRange(int64_t n, const K* keys) const;
  // With admission on: sets slots[i] (found by map_) of every absent key that
  // is not admitted to an in-call marker (see table.cc) and returns how many;
  // scratch holds n keys. Returns 0 without admission.
  int64_t MarkRejected(int64_t n, const int64_t* keys, int64_t* slots, int64_t* scratch);
  // Erase with mu_ held; device slots freed go to *freed (if non-null).
  int64_t EraseLocked(int64_t n, const int64_t* keys, std::vector<int64_t>* freed);
  // Applies a PlanLookup whose checks passed; cannot fail.
  // SSD mode: demoted_rows_ are released (their keys are on SSD now) and
  // ssd_rows_ hold the rows of the call's SSD keys, in call order.
  void ApplyPlan(int64_t n, const int64_t* keys, uint64_t step, int64_t* slots, bool* is_new,
                 SwapPlan* plan);

  const TableOptions options_;
  const int64_t row_width_;
  mutable std::shared_mutex mu_;
  // Value per key: a device slot, or (DDR mode) an encoded host row; see
  // table.cc. Everything below is guarded by mu_.
  KeySlotMap map_;
  SlotAllocator slots_;
  std::vector<int64_t> scratch_keys_;  // widened keys, guarded by mu_ (exclusive)
  TableStats stats_;                   // cumulative counters only
  // FAAE (null until ConfigureAdmission).
  std::unique_ptr<KeyAdmission> admission_;
  std::unique_ptr<bool[]> admitted_;
  int64_t admitted_capacity_ = 0;
  int64_t own_clock_ = 0;  // training steps, the time when callers pass none
  // DDR mode only (empty in HBM mode).
  DeviceCache cache_;
  HostTier host_;
  std::vector<int64_t> device_keys_;  // key held by each issued device slot
  uint64_t step_ = 0;                 // advanced by PlanLookup(begin_step=true)
  std::vector<int64_t> pending_rows_;  // host rows awaiting CommitEvicted
  std::vector<uint32_t> device_freq_;  // LFU count of each device slot's key
  std::vector<HostRowMeta> host_meta_;  // indexed by host row; size = rows ever issued
  // SSD mode only.
  std::unique_ptr<SsdTier> ssd_;
  uint64_t demote_epoch_ = 0;
  uint64_t rng_state_ = 0x9e3779b97f4a7c15ULL;
  std::vector<int64_t> demoted_rows_;    // host rows demoted by the current call
  std::vector<int64_t> demoted_keys_;
  std::vector<float> demoted_data_;
  std::vector<int64_t> ssd_keys_;        // the current call's keys on SSD
  std::vector<float> ssd_rows_;
  std::unique_ptr<bool[]> ssd_found_;
  int64_t ssd_found_capacity_ = 0;
  // Hot embedding only (empty otherwise). Every issued device slot is in
  // exactly one of cache_ and hot_cache_.
  DeviceCache hot_cache_;             // the hot slots, in LRU order
  // 1 for a hot slot: a compact copy of hot_cache_.Contains, so the many
  // membership tests (LFU sampling draws mostly hot slots) stay in cache.
  std::vector<uint8_t> hot_flag_;
  uint64_t hot_window_ = 0;           // current window: step / hot_refresh_steps
  uint32_t hot_threshold_ = 2;        // access count that makes a key hot
  std::vector<uint32_t> hot_counts_;  // RefreshHot scratch: counts of the device keys
  std::vector<int64_t> hot_leaving_;  // RefreshHot scratch
};

}  // namespace asc
