// TableOptions: everything fixed when a table is created, in one struct.
//
// Field names are the Python argument names of mx_rec's create_table (and of
// the _libasc binding), so an error naming a field names what the user typed.
// The struct travels to the TF kernels as one string attr (Serialize/Parse),
// and is validated once, here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "asc/status.h"

namespace asc {

enum class KeyType { kInt32, kInt64 };

// "int32" / "int64"; "unknown" for a value outside the enum.
const char* KeyTypeName(KeyType t);

// How the device tier of a table with a host tier picks the row to evict when
// a lookup needs one and none is free.
//   kLru: the least recently used slot no open step uses (exact).
//   kLfu: the slot with the lowest access count (lookups of its key, carried
//     across tiers, saturating) among the LRU slot and up to 16 random slots
//     (at most 64 draws) no open step uses, ties going to the less recently
//     used one; every slot is a candidate when the device tier has at most 16
//     slots (exact LFU). A new key starts at count 1. Counts never decay, so
//     a once-hot key that goes cold stays on the device until hotter keys
//     need its slot.
enum class CachePolicy { kLru, kLfu };

// "LRU" / "LFU"; "unknown" for a value outside the enum.
const char* CachePolicyName(CachePolicy p);

struct TableOptions {
  // Table name, non-empty; used in messages and SSD directory names only
  // (tables are owned by their creator, not looked up by name).
  std::string name;
  // Key type users feed; int32 tables reject keys outside int32 range.
  KeyType key_dtype = KeyType::kInt64;
  // Embedding width, 1..kMaxDim.
  int64_t dim = 0;
  // Device rows at creation, 1..kMaxCapacity.
  int64_t device_vocabulary_size = 0;
  // When true, a full device tier grows by `growth_factor` instead of failing.
  // Only without a host tier.
  bool dynamic_expansion = false;
  // Capacity multiplier on expansion; a finite number > 1.
  double growth_factor = 2.0;
  // Host (DDR) tier rows, 0..kMaxCapacity. 0: HBM mode, every key keeps a
  // device row. > 0: the device tier is a fixed-size cache over the host tier.
  int64_t host_vocabulary_size = 0;
  // SSD tier rows, 0..kMaxCapacity. > 0 adds an SSD tier (RocksDB) below the
  // host tier; needs host_vocabulary_size > 0 and at least one ssd_data_path.
  int64_t ssd_vocabulary_size = 0;
  // Existing writable directories. The table creates its own directory
  // under each (see SsdTier) and removes it when destroyed; new rows go to
  // the first path with at least ssd_min_free_bytes available.
  std::vector<std::string> ssd_data_path;
  int64_t ssd_min_free_bytes = int64_t{256} << 20;
  // Victim policy of the device tier (see CachePolicy); only with a host tier.
  CachePolicy cache_policy = CachePolicy::kLru;
  // Hot embedding: at most this many device slots hold hot keys, which are
  // taken out of the victim order of the device tier (LRU list and LFU
  // sampling alike), so a scan of cold keys cannot push them out.
  // 0 (default) turns it off; otherwise in [1, device_vocabulary_size - 1]
  // and only with a host tier: in HBM mode nothing is evicted.
  //   Which keys: a key becomes hot when it is looked up (or loaded) with an
  //   access count (lookups since it was first seen, carried across tiers) at
  //   or above the hot threshold while the hot set has room. The threshold
  //   starts at 2.
  //   Refresh: every hot_refresh_steps steps (when a step begins) the
  //   threshold becomes the hot_vocabulary_size-th largest count among the
  //   keys on the device (at least 2), and a hot key leaves the hot set when
  //   its count is below it or it was not looked up in the last
  //   hot_refresh_steps steps (it stays on the device). A refresh costs
  //   O(device rows), i.e. O(device rows / hot_refresh_steps) per step
  //   amortised; a lookup costs O(1) per key more.
  //   A step always fits: when a step needs more slots than the non-hot part
  //   of the device has free or unpinned, the least recently used hot slots
  //   no open step uses leave the hot set and become victims, so a lookup
  //   fails with ResourceExhausted exactly when it would without hot
  //   embedding.
  int64_t hot_vocabulary_size = 0;
  // Steps between hot-set refreshes, also how long a hot key may go without
  // a lookup, [1, kMaxHotRefreshSteps]. The default measured best on Zipf ids
  // (BENCHMARKS.md).
  int64_t hot_refresh_steps = 300;

  static constexpr int64_t kMaxHotRefreshSteps = int64_t{1} << 30;
  static constexpr int64_t kMaxDim = 8192;
  static constexpr int64_t kMaxCapacity = int64_t{1} << 40;
  // Room for the embedding plus up to 15 optimizer-state columns of width dim.
  static constexpr int64_t kMaxRowWidth = kMaxDim * 16;

  bool ddr_mode() const { return host_vocabulary_size > 0; }
  bool ssd_mode() const { return ssd_vocabulary_size > 0; }
  bool hot_mode() const { return hot_vocabulary_size > 0; }

  // OK, or InvalidArgument naming the offending field and its allowed range
  // (for ssd_data_path: the path that does not exist / is not a directory /
  // is not writable).
  Status Validate() const;

  // A one-line text form ("field=value;..."), and its inverse. Parse accepts
  // only what Serialize writes (InvalidArgument otherwise) and does not
  // validate.
  std::string Serialize() const;
  static Status Parse(const std::string& text, TableOptions* out);
};

}  // namespace asc
