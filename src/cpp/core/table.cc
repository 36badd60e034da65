#include "asc/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

#include "asc/key_dedup.h"

namespace asc {
namespace {

// Widens keys to int64 a stack-sized chunk at a time, so read paths need no
// shared scratch (they hold only a shared lock) and never allocate.
constexpr int64_t kWidenChunk = 1024;

template <typename K, typename Fn>
void ForEachInt64Chunk(int64_t n, const K* keys, Fn&& fn) {
  if constexpr (std::is_same_v<K, int64_t>) {
    fn(0, n, keys);
  } else {
    int64_t wide[kWidenChunk];
    for (int64_t base = 0; base < n; base += kWidenChunk) {
      const int64_t len = std::min(kWidenChunk, n - base);
      std::copy_n(keys + base, len, wide);
      fn(base, len, static_cast<const int64_t*>(wide));
    }
  }
}

// The capacity after geometric growth from `capacity` until `needed` rows fit.
// Returns 0 when even kMaxCapacity is not enough.
int64_t GrownCapacity(int64_t capacity, int64_t needed, double growth_factor) {
  if (needed > TableOptions::kMaxCapacity) return 0;
  int64_t grown = capacity;
  while (grown < needed) {
    const double next = static_cast<double>(grown) * growth_factor;
    // A factor close to 1 would round back to `grown` on small capacities.
    grown = next >= static_cast<double>(TableOptions::kMaxCapacity)
                ? TableOptions::kMaxCapacity
                : std::max(static_cast<int64_t>(next), grown + 1);
  }
  return grown;
}

// Location encoding of a KeySlotMap value in DDR mode: device slots are
// [0, kHostBase), host row h is stored as kHostBase + h. Both ranges stay below
// kMaxCapacity = 2^40 entries, so 2^62 separates them with room to spare and
// keeps every value non-negative (kNoSlot stays the only negative value).
// A key on the SSD tier is stored as the single value kOnSsd (SsdTier is keyed
// by key, so no row index is needed), just below kHostBase.
// The encoding never leaves this file.
constexpr int64_t kHostBase = int64_t{1} << 62;
constexpr int64_t kOnSsd = kHostBase - 1;

bool IsHostRow(int64_t location) { return location >= kHostBase; }
bool IsOnSsd(int64_t location) { return location == kOnSsd; }
int64_t HostRowOf(int64_t location) { return location - kHostBase; }
int64_t EncodeHostRow(int64_t row) { return kHostBase + row; }
bool IsDeviceSlot(int64_t location) { return location >= 0 && location < kOnSsd; }
// Off the device but held: its row lives in libasc (host or SSD).
bool IsOffDevice(int64_t location) { return location >= kOnSsd; }
// Within one FindOrInsert / PlanLookup call only (never stored): an absent
// key that admission turned away. It leaves the call as slot -1.
constexpr int64_t kRejected = -2;

// Demotion victims: the lowest count among this many random held host rows.
constexpr int kDemotionSamples = 16;
constexpr int kDemotionTries = 64;
// Device victims under DevicePolicy::kLfu: the lowest count among this many
// random unpinned slots, within a bounded number of draws; a device tier this
// small or smaller is scanned whole instead (exact LFU, still O(1)).
constexpr int kDeviceSamples = 16;
constexpr int kDeviceTries = 64;

uint32_t Bump(uint32_t freq) { return freq == UINT32_MAX ? freq : freq + 1; }

// Hot embedding: the threshold never drops below this access count (a key
// must come back at least once to be hot).
constexpr uint32_t kMinHotThreshold = 2;

}  // namespace

const char* KeyTypeName(KeyType t) {
  switch (t) {
    case KeyType::kInt32:
      return "int32";
    case KeyType::kInt64:
      return "int64";
  }
  return "unknown";
}

const char* DevicePolicyName(DevicePolicy p) {
  switch (p) {
    case DevicePolicy::kLru:
      return "lru";
    case DevicePolicy::kLfu:
      return "lfu";
  }
  return "unknown";
}

Status TableOptions::Validate() const {
  if (name.empty()) return Status::InvalidArgument("name must be a non-empty string");
  const std::string where = " (table '" + name + "')";
  if (key_type != KeyType::kInt32 && key_type != KeyType::kInt64) {
    return Status::InvalidArgument("key_type must be int32 or int64, got " +
                                   std::to_string(static_cast<int>(key_type)) + where);
  }
  if (dim < 1 || dim > kMaxDim) {
    return Status::InvalidArgument("dim must be in [1, " + std::to_string(kMaxDim) + "], got " +
                                   std::to_string(dim) + where);
  }
  if (device_capacity < 1 || device_capacity > kMaxCapacity) {
    return Status::InvalidArgument("device_capacity (device_vocabulary_size) must be in [1, " +
                                   std::to_string(kMaxCapacity) + "], got " +
                                   std::to_string(device_capacity) + where);
  }
  // Written so that NaN fails too.
  if (!(growth_factor > 1.0) || !std::isfinite(growth_factor)) {
    char shown[32];
    std::snprintf(shown, sizeof(shown), "%g", growth_factor);
    return Status::InvalidArgument("growth_factor must be a finite number > 1, got " +
                                   std::string(shown) + where);
  }
  if (host_capacity < 0 || host_capacity > kMaxCapacity) {
    return Status::InvalidArgument("host_capacity (host_vocabulary_size) must be in [0, " +
                                   std::to_string(kMaxCapacity) + "], got " +
                                   std::to_string(host_capacity) + where);
  }
  if (host_capacity > 0 && dynamic_expansion) {
    return Status::InvalidArgument(
        "dynamic_expansion must be false when host_capacity (host_vocabulary_size) > 0: with a "
        "host tier the device tier is a fixed-size cache" + where);
  }
  if (row_width != 0 && (row_width < dim || row_width > kMaxRowWidth)) {
    return Status::InvalidArgument("row_width must be 0 (meaning dim) or in [dim=" + std::to_string(dim) +
                                   ", " + std::to_string(kMaxRowWidth) + "], got " +
                                   std::to_string(row_width) + where);
  }
  if (device_policy != DevicePolicy::kLru && device_policy != DevicePolicy::kLfu) {
    return Status::InvalidArgument("device_policy must be lru or lfu, got " +
                                   std::to_string(static_cast<int>(device_policy)) + where);
  }
  if (hot_capacity < 0 || hot_capacity >= device_capacity) {
    return Status::InvalidArgument("hot_capacity (hot_vocabulary_size) must be in [0, " +
                                   std::to_string(device_capacity - 1) +
                                   "] (below device_capacity), got " +
                                   std::to_string(hot_capacity) + where);
  }
  if (hot_capacity > 0 && host_capacity == 0) {
    return Status::InvalidArgument(
        "hot_capacity (hot_vocabulary_size) > 0 needs a host tier (host_vocabulary_size > 0): "
        "without one every key stays on the device" + where);
  }
  if (hot_refresh_steps < 1 || hot_refresh_steps > kMaxHotRefreshSteps) {
    return Status::InvalidArgument("hot_refresh_steps must be in [1, " +
                                   std::to_string(kMaxHotRefreshSteps) + "], got " +
                                   std::to_string(hot_refresh_steps) + where);
  }
  if (ssd_capacity < 0 || ssd_capacity > kMaxCapacity) {
    return Status::InvalidArgument("ssd_capacity (ssd_vocabulary_size) must be in [0, " +
                                   std::to_string(kMaxCapacity) + "], got " +
                                   std::to_string(ssd_capacity) + where);
  }
  if (ssd_capacity > 0) {
    if (host_capacity == 0) {
      return Status::InvalidArgument(
          "ssd_vocabulary_size > 0 needs a host tier (host_vocabulary_size > 0)" + where);
    }
    if (ssd_paths.empty()) {
      return Status::InvalidArgument(
          "ssd_paths (ssd_data_path) must name at least one directory when ssd_capacity "
          "(ssd_vocabulary_size) > 0" + where);
    }
    if (ssd_min_free_bytes < 0) {
      return Status::InvalidArgument("ssd_min_free_bytes must be >= 0, got " +
                                     std::to_string(ssd_min_free_bytes) + where);
    }
    for (const std::string& path : ssd_paths) {
      struct stat st;
      if (path.empty() || stat(path.c_str(), &st) != 0) {
        return Status::InvalidArgument("ssd_paths (ssd_data_path): '" + path + "' does not exist" +
                                       where);
      }
      if (!S_ISDIR(st.st_mode)) {
        return Status::InvalidArgument("ssd_paths (ssd_data_path): '" + path +
                                       "' is not a directory" + where);
      }
      if (access(path.c_str(), W_OK | X_OK) != 0) {
        return Status::InvalidArgument("ssd_paths (ssd_data_path): '" + path +
                                       "' is not writable" + where);
      }
    }
  }
  return Status::OK();
}

// The map is sized up front for the device tier's keys, so a table that fills
// its tier never pauses a step to rehash; the cap keeps an oversized
// device_vocabulary_size from reserving memory no key will use.
constexpr int64_t kMaxPresizedKeys = int64_t{1} << 24;

Table::Table(const TableOptions& options)
    : options_(options),
      row_width_(options.effective_row_width()),
      map_(std::min(options.device_capacity + options.host_capacity, kMaxPresizedKeys)),
      slots_(options.device_capacity),
      // LFU draws victims among the cached slots; with hot slots out of cache_
      // most random slots would be hot, so the hot LFU table draws members.
      cache_(options.ddr_mode() ? options.device_capacity : 0,
             options.hot_mode() && options.device_policy == DevicePolicy::kLfu),
      host_(row_width_, options.host_capacity),
      device_keys_(static_cast<size_t>(options.ddr_mode() ? options.device_capacity : 0)),
      device_freq_(static_cast<size_t>(options.ddr_mode() ? options.device_capacity : 0)),
      hot_cache_(options.hot_mode() ? options.device_capacity : 0),
      hot_flag_(static_cast<size_t>(options.hot_mode() ? options.device_capacity : 0)),
      hot_threshold_(kMinHotThreshold) {}

Status Table::Create(const TableOptions& options, std::unique_ptr<Table>* out) {
  ASC_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Table> table(new Table(options));
  if (options.ssd_mode()) {
    SsdTierOptions ssd;
    ssd.paths = options.ssd_paths;
    ssd.name = options.name;
    ssd.row_width = table->row_width_;
    ssd.capacity = options.ssd_capacity;
    ssd.min_free_bytes = options.ssd_min_free_bytes;
    const Status s = SsdTier::Open(ssd, &table->ssd_);
    if (!s.ok()) return Status(s.code(), "table '" + options.name + "': " + s.message());
  }
  *out = std::move(table);
  return Status::OK();
}

int64_t Table::AllocateHostRow(int64_t key, uint32_t freq) {
  const int64_t row = host_.Allocate();
  if (row >= static_cast<int64_t>(host_meta_.size())) host_meta_.resize(static_cast<size_t>(row) + 1);
  HostRowMeta& m = host_meta_[static_cast<size_t>(row)];
  m.key = key;
  m.freq = freq;
  m.held = true;
  return row;
}

void Table::ReleaseHostRow(int64_t row) {
  host_.Release(row);
  host_meta_[static_cast<size_t>(row)].held = false;
}

namespace {

inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t Table::NextRandom() { return SplitMix64(&rng_state_); }

// A held host row not marked in this epoch with the lowest count among a few
// random ones; marks it. Precondition: such a row exists. Sampling misses
// only when few rows qualify (a host tier not much larger than one batch);
// then a scan from a random start finds one.
int64_t Table::SampleDemotionVictim() {
  const int64_t issued = static_cast<int64_t>(host_meta_.size());
  int64_t best = -1;
  int sampled = 0;
  for (int tries = 0; tries < kDemotionTries && sampled < kDemotionSamples; ++tries) {
    const int64_t row = static_cast<int64_t>(NextRandom() % static_cast<uint64_t>(issued));
    const HostRowMeta& m = host_meta_[static_cast<size_t>(row)];
    if (!m.held || m.mark == demote_epoch_) continue;
    ++sampled;
    if (best < 0 || m.freq < host_meta_[static_cast<size_t>(best)].freq) best = row;
  }
  if (best < 0) {
    const int64_t start = static_cast<int64_t>(NextRandom() % static_cast<uint64_t>(issued));
    for (int64_t k = 0; k < issued && best < 0; ++k) {
      const int64_t row = (start + k) % issued;
      const HostRowMeta& m = host_meta_[static_cast<size_t>(row)];
      if (m.held && m.mark != demote_epoch_) best = row;
    }
  }
  host_meta_[static_cast<size_t>(best)].mark = demote_epoch_;
  return best;
}

int64_t Table::DeviceVictim(uint64_t step) {
  const int64_t lru = cache_.Victim(step);
  if (lru < 0) {
    // Every non-hot slot is used in this step (the used ones form the MRU end
    // of cache_), so the precondition leaves a hot slot not used in it.
    const int64_t hot = hot_cache_.Victim(step);
    Unhot(hot);
    return hot;
  }
  if (options_.device_policy != DevicePolicy::kLfu) return lru;
  const int64_t capacity = cache_.capacity();
  int64_t best = -1;
  // Lower count wins; on equal counts the less recently used slot. Hot slots
  // are not in cache_. `cached`: the caller knows cache_ holds the slot.
  auto consider = [&](int64_t slot, bool cached = false) {
    if ((!cached && !cache_.Contains(slot)) || cache_.UsedIn(slot, step)) return false;
    if (best < 0) {
      best = slot;
      return true;
    }
    const uint32_t f = device_freq_[static_cast<size_t>(slot)];
    const uint32_t bf = device_freq_[static_cast<size_t>(best)];
    if (f < bf || (f == bf && cache_.LastUsed(slot) < cache_.LastUsed(best))) best = slot;
    return true;
  };
  consider(lru, true);  // a free extra candidate, and the fallback
  if (capacity <= kDeviceSamples) {
    for (int64_t slot = 0; slot < capacity; ++slot) consider(slot);
  } else {
    int sampled = 0;
    // Hot embedding: draw among the members of cache_ (never hot ones), not
    // among all slots, most of which may be hot. Draws are scaled into range
    // by a multiply (no division).
    const bool members = options_.hot_mode();
    const uint64_t range = static_cast<uint64_t>(members ? cache_.size() : capacity);
    for (int tries = 0; tries < kDeviceTries && sampled < kDeviceSamples; ++tries) {
      const auto i = static_cast<int64_t>(
          (static_cast<unsigned __int128>(SplitMix64(&rng_state_)) * range) >> 64);
      if (members ? consider(cache_.Member(i), true) : consider(i)) ++sampled;
    }
  }
  // With few unpinned slots sampling may find none but the LRU slot.
  return best >= 0 ? best : lru;
}

void Table::UseDeviceSlot(int64_t slot, uint64_t step) {
  if (!options_.hot_mode()) {
    cache_.Touch(slot, step);
    return;
  }
  if (hot_flag_[static_cast<size_t>(slot)] != 0) {
    hot_cache_.Touch(slot, step);
    ++stats_.hot_hits;
  } else if (device_freq_[static_cast<size_t>(slot)] >= hot_threshold_ &&
             hot_cache_.size() < options_.hot_capacity) {
    // Used in this step either way, so pinned before and after the move: the
    // count of slots PlanLookup may still evict does not change.
    if (cache_.Contains(slot)) cache_.Remove(slot);
    hot_flag_[static_cast<size_t>(slot)] = 1;
    hot_cache_.Touch(slot, step);
  } else {
    cache_.Touch(slot, step);
  }
}

void Table::RefreshHot(uint64_t step) {
  const uint64_t window_steps = static_cast<uint64_t>(options_.hot_refresh_steps);
  const uint64_t window = step / window_steps;
  if (!options_.hot_mode() || window == hot_window_) return;
  hot_window_ = window;
  // The threshold: the hot_capacity-th largest count of the device keys.
  hot_counts_.clear();
  for (int64_t slot = 0; slot < slots_.capacity(); ++slot) {
    if (IsHot(slot) || cache_.Contains(slot)) {
      hot_counts_.push_back(device_freq_[static_cast<size_t>(slot)]);
    }
  }
  const size_t rank = static_cast<size_t>(options_.hot_capacity) - 1;
  hot_threshold_ = kMinHotThreshold;
  if (hot_counts_.size() > rank) {
    std::nth_element(hot_counts_.begin(), hot_counts_.begin() + static_cast<ptrdiff_t>(rank),
                     hot_counts_.end(), std::greater<uint32_t>());
    hot_threshold_ = std::max(kMinHotThreshold, hot_counts_[rank]);
  }
  hot_leaving_.clear();
  hot_cache_.ForEach([&](int64_t slot) {
    const bool idle = hot_cache_.LastUsed(slot) + window_steps < step;
    if (idle || device_freq_[static_cast<size_t>(slot)] < hot_threshold_) hot_leaving_.push_back(slot);
  });
  // Called before any slot is used in `step`: stamped with the previous step,
  // the leaving slots stay unpinned (PlanLookup's count of evictable slots
  // holds) and become the most recently used of cache_.
  for (int64_t slot : hot_leaving_) {
    Unhot(slot);
    cache_.Touch(slot, step - 1);
  }
}

template <typename K>
Status Table::CheckKeyRange(int64_t n, const K* keys) const {
  if constexpr (std::is_same_v<K, int64_t>) {
    if (options_.key_type != KeyType::kInt32) return Status::OK();
    for (int64_t i = 0; i < n; ++i) {
      if (keys[i] < std::numeric_limits<int32_t>::min() ||
          keys[i] > std::numeric_limits<int32_t>::max()) {
        return Status::InvalidArgument(
            "int32 table '" + name() + "': key " + std::to_string(keys[i]) + " at position " +
            std::to_string(i) + " is outside the int32 range [" +
            std::to_string(std::numeric_limits<int32_t>::min()) + ", " +
            std::to_string(std::numeric_limits<int32_t>::max()) + "]");
      }
    }
  }
  return Status::OK();
}

template <typename K>
Status Table::FindOrInsert(int64_t n, const K* keys, int64_t* slots, bool* is_new,
                           int64_t* capacity) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (options_.ddr_mode()) {
    return Status::FailedPrecondition("FindOrInsert on table '" + name() +
                                      "': the table has a host tier (host_vocabulary_size=" +
                                      std::to_string(options_.host_capacity) +
                                      "); use PlanLookup");
  }
  if (n < 0) {
    return Status::InvalidArgument("FindOrInsert on table '" + name() +
                                   "': key count must be >= 0, got " + std::to_string(n));
  }
  ASC_RETURN_IF_ERROR(CheckKeyRange(n, keys));

  // scratch_keys_[0, n): keys, compacted in place to the absent ones;
  // scratch_keys_[n, 2n): the slots given to those absent keys.
  scratch_keys_.resize(2 * static_cast<size_t>(n));
  int64_t* const missing_keys = scratch_keys_.data();
  int64_t* const missing_slots = missing_keys + n;
  std::copy_n(keys, n, missing_keys);
  map_.FindBatch(n, missing_keys, slots);
  const int64_t rejected = MarkRejected(n, missing_keys, slots, missing_slots);
  int64_t missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) missing_keys[missing++] = missing_keys[i];
  }

  if (missing > 0) {
    // A repeated absent key would get two slots and leak one; a repeated
    // present key is harmless. Checking only absent keys keeps the steady
    // state (mostly hits) free of the extra pass.
    if (DedupKeys<int64_t>(missing, missing_keys, nullptr, nullptr, nullptr) != missing) {
      return Status::InvalidArgument("FindOrInsert on table '" + name() +
                                     "': keys must be unique within a call (run DedupKeys first)");
    }
    if (missing > slots_.available()) {
      if (!options_.dynamic_expansion) {
        return Status::ResourceExhausted(
            "table '" + name() + "' is full: device_vocabulary_size=" +
            std::to_string(slots_.capacity()) + ", " + std::to_string(map_.size()) +
            " keys held, " + std::to_string(missing) +
            " new keys in this batch; enable dynamic expansion or enlarge device_vocabulary_size");
      }
      const int64_t grown =
          GrownCapacity(slots_.capacity(), slots_.used() + missing, options_.growth_factor);
      if (grown == 0) {
        return Status::ResourceExhausted(
            "table '" + name() + "' cannot grow past " + std::to_string(TableOptions::kMaxCapacity) +
            " rows: " + std::to_string(map_.size()) + " keys held, " + std::to_string(missing) +
            " new keys in this batch");
      }
      slots_.Grow(grown);
    }
  }

  int64_t next_missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    is_new[i] = slots[i] == KeySlotMap::kNoSlot;
    if (is_new[i]) {
      slots[i] = slots_.Allocate();
      missing_slots[next_missing++] = slots[i];
    } else if (slots[i] == kRejected) {
      slots[i] = KeySlotMap::kNoSlot;
    }
  }
  map_.InsertBatch(missing, missing_keys, missing_slots);
  *capacity = slots_.capacity();
  stats_.rejected += rejected;
  stats_.hits += n - missing - rejected;
  stats_.misses += missing;
  stats_.new_keys += missing;
  return Status::OK();
}

template <typename K>
Status Table::PlanLookup(int64_t n, const K* keys, bool begin_step, int64_t* slots, bool* is_new,
                         SwapPlan* plan) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!options_.ddr_mode()) {
    return Status::FailedPrecondition("PlanLookup on table '" + name() +
                                      "': the table has no host tier (host_vocabulary_size=0); "
                                      "use FindOrInsert");
  }
  if (n < 0) {
    return Status::InvalidArgument("PlanLookup on table '" + name() +
                                   "': key count must be >= 0, got " + std::to_string(n));
  }
  if (!pending_rows_.empty()) {
    return Status::FailedPrecondition(
        "PlanLookup on table '" + name() + "': the previous plan's " +
        std::to_string(pending_rows_.size()) +
        " evicted rows were not committed yet; call CommitEvicted first");
  }
  ASC_RETURN_IF_ERROR(CheckKeyRange(n, keys));
  const uint64_t step = begin_step ? step_ + 1 : step_;

  // scratch_keys_[0, n): widened keys; [n, 2n): the keys that need a device
  // slot (uniqueness check); ApplyPlan reuses [n, 5n) for map updates.
  scratch_keys_.resize(5 * static_cast<size_t>(n));
  int64_t* const wide = scratch_keys_.data();
  int64_t* const moving_keys = wide + n;
  std::copy_n(keys, n, wide);
  map_.FindBatch(n, wide, slots);
  MarkRejected(n, wide, slots, moving_keys);
  int64_t moving = 0;        // keys needing a device slot: from host/SSD, or new
  int64_t from_host = 0;
  int64_t from_ssd = 0;
  int64_t newly_pinned = 0;  // device hits not yet used in this step
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) {
      if (!(IsHot(slots[i]) ? hot_cache_ : cache_).UsedIn(slots[i], step)) ++newly_pinned;
    } else if (slots[i] != kRejected) {
      moving_keys[moving++] = wide[i];
      if (IsOnSsd(slots[i])) {
        ++from_ssd;
      } else if (slots[i] != KeySlotMap::kNoSlot) {
        ++from_host;
      }
    }
  }
  // A repeated key off the device would get two slots; a repeated device hit
  // is harmless, so the common all-hits case skips the extra pass.
  if (moving > 0 && DedupKeys<int64_t>(moving, moving_keys, nullptr, nullptr, nullptr) != moving) {
    return Status::InvalidArgument("PlanLookup on table '" + name() +
                                   "': keys must be unique within a call (run DedupKeys first)");
  }

  // Count needs before mutating anything. Slots used in this step (earlier
  // lookups, and this call's hits once touched) cannot be victims; hot slots
  // can, once the others are used up (DeviceVictim).
  const int64_t victims = std::max<int64_t>(0, moving - slots_.available());
  int64_t demote = 0;
  if (victims > 0) {
    const int64_t pinned = cache_.PinnedIn(step) + hot_cache_.PinnedIn(step) + newly_pinned;
    if (victims > cache_.size() + hot_cache_.size() - pinned) {
      return Status::ResourceExhausted(
          "table '" + name() + "': the device tier (device_vocabulary_size=" +
          std::to_string(slots_.capacity()) + ") is smaller than the unique keys of one step (" +
          std::to_string(pinned + moving) + " so far); enlarge device_vocabulary_size");
    }
    // Host rows are released (loads) before victims reserve theirs, so the
    // tier never holds more than max(now, after) rows during the call.
    const int64_t host_after = host_.size() - from_host + victims;
    if (host_after > host_.capacity() && ssd_ != nullptr) {
      // Demote the excess to SSD; rows this call loads are not candidates.
      demote = host_after - host_.capacity();
      const int64_t ssd_after = ssd_->size() - from_ssd + demote;
      if (demote > host_.size() - from_host || ssd_after > options_.ssd_capacity) {
        return Status::ResourceExhausted(
            "table '" + name() + "': every tier is full (device_vocabulary_size=" +
            std::to_string(slots_.capacity()) + ", host_vocabulary_size=" +
            std::to_string(host_.capacity()) + ", ssd_vocabulary_size=" +
            std::to_string(options_.ssd_capacity) + "; " + std::to_string(host_.size()) +
            " host rows and " + std::to_string(ssd_->size()) + " SSD rows held); this lookup evicts " +
            std::to_string(victims) + " rows and loads " + std::to_string(from_host) +
            " from host and " + std::to_string(from_ssd) +
            " from SSD; enlarge ssd_vocabulary_size or host_vocabulary_size");
      }
    } else if (host_after > host_.capacity()) {
      return Status::ResourceExhausted(
          "table '" + name() + "': the host tier is full (host_vocabulary_size=" +
          std::to_string(host_.capacity()) + ", " + std::to_string(host_.size()) +
          " rows held); this lookup evicts " + std::to_string(victims) + " rows and loads " +
          std::to_string(from_host) + "; enlarge host_vocabulary_size");
    }
  }
  demoted_rows_.clear();
  if (from_ssd > 0 || demote > 0) {
    // All SSD I/O happens here, before anything changes: a failure leaves the
    // table exactly as it was.
    const int64_t w = row_width_;
    ssd_keys_.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (IsOnSsd(slots[i])) ssd_keys_.push_back(wide[i]);
    }
    ssd_rows_.resize(static_cast<size_t>(from_ssd * w));
    if (ssd_found_capacity_ < from_ssd) {
      ssd_found_.reset(new bool[static_cast<size_t>(from_ssd)]);
      ssd_found_capacity_ = from_ssd;
    }
    ASC_RETURN_IF_ERROR(ssd_->Get(from_ssd, ssd_keys_.data(), ssd_rows_.data(), ssd_found_.get()));
    for (int64_t j = 0; j < from_ssd; ++j) {
      if (!ssd_found_[j]) {
        return Status::Internal("table '" + name() + "': key " + std::to_string(ssd_keys_[j]) +
                                " is mapped to the SSD tier but the SSD tier does not hold it");
      }
    }
    ++demote_epoch_;
    for (int64_t i = 0; i < n; ++i) {
      if (IsHostRow(slots[i])) host_meta_[static_cast<size_t>(HostRowOf(slots[i]))].mark = demote_epoch_;
    }
    demoted_keys_.clear();
    demoted_data_.resize(static_cast<size_t>(demote * w));
    for (int64_t d = 0; d < demote; ++d) {
      const int64_t row = SampleDemotionVictim();
      demoted_rows_.push_back(row);
      demoted_keys_.push_back(host_meta_[static_cast<size_t>(row)].key);
      std::copy_n(host_.Row(row), w, demoted_data_.data() + d * w);
    }
    const Status s = ssd_->Exchange(demote, demoted_keys_.data(), demoted_data_.data(), from_ssd,
                                    ssd_keys_.data());
    if (!s.ok()) {
      demoted_rows_.clear();
      return Status(s.code(), "PlanLookup on table '" + name() + "': " + s.message());
    }
  }
  if (begin_step) RefreshHot(step);
  step_ = step;
  ApplyPlan(n, wide, step, slots, is_new, plan);
  return Status::OK();
}

void Table::ApplyPlan(int64_t n, const int64_t* keys, uint64_t step, int64_t* slots, bool* is_new,
                      SwapPlan* plan) {
  plan->evict_slots.clear();
  plan->load_slots.clear();
  plan->load_rows.clear();
  // Demoted rows are on SSD already (PlanLookup wrote them): free their host
  // rows before loads and victims touch the host tier.
  if (!demoted_rows_.empty()) {
    const std::vector<int64_t> on_ssd(demoted_keys_.size(), kOnSsd);
    map_.InsertOrAssignBatch(static_cast<int64_t>(demoted_keys_.size()), demoted_keys_.data(),
                             on_ssd.data());
    for (int64_t row : demoted_rows_) ReleaseHostRow(row);
    stats_.demotions += static_cast<int64_t>(demoted_rows_.size());
    demoted_rows_.clear();
  }
  // Pin this call's hits first, so no key of the call can pick one as victim.
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) {
      device_freq_[static_cast<size_t>(slots[i])] = Bump(device_freq_[static_cast<size_t>(slots[i])]);
      UseDeviceSlot(slots[i], step);
      is_new[i] = false;
      ++hits;
    }
  }
  // (key, location) updates: each moving key, plus each victim's key. All
  // distinct: victims are unpinned device keys, moving keys were off-device.
  int64_t* const update_keys = scratch_keys_.data() + n;
  int64_t* const update_locations = update_keys + 2 * n;
  int64_t updates = 0;
  int64_t loads = 0;
  int64_t ssd_loads = 0;
  int64_t evictions = 0;
  int64_t rejected = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t location = slots[i];
    if (IsDeviceSlot(location)) continue;
    if (location == kRejected) {
      slots[i] = KeySlotMap::kNoSlot;
      is_new[i] = false;
      ++rejected;
      continue;
    }
    uint32_t freq = 1;
    if (IsOnSsd(location)) {
      // Read (and erased from SSD) by PlanLookup, in call order.
      const float* data = ssd_rows_.data() + ssd_loads * row_width_;
      plan->load_rows.insert(plan->load_rows.end(), data, data + row_width_);
      ++ssd_loads;
      ++loads;
    } else if (location != KeySlotMap::kNoSlot) {
      // Copy out and free the host row first: a victim below may reuse it.
      const int64_t row = HostRowOf(location);
      const float* data = host_.Row(row);
      plan->load_rows.insert(plan->load_rows.end(), data, data + row_width_);
      freq = Bump(host_meta_[static_cast<size_t>(row)].freq);
      ReleaseHostRow(row);
      ++loads;
    }
    int64_t slot;
    if (slots_.available() > 0) {
      slot = slots_.Allocate();
    } else {
      // Exists: PlanLookup counted enough unpinned slots.
      slot = DeviceVictim(step);
      const int64_t row = AllocateHostRow(device_keys_[static_cast<size_t>(slot)],
                                          device_freq_[static_cast<size_t>(slot)]);
      pending_rows_.push_back(row);
      plan->evict_slots.push_back(slot);
      update_keys[updates] = device_keys_[static_cast<size_t>(slot)];
      update_locations[updates++] = EncodeHostRow(row);
      ++evictions;
    }
    if (location != KeySlotMap::kNoSlot) plan->load_slots.push_back(slot);
    is_new[i] = location == KeySlotMap::kNoSlot;
    device_keys_[static_cast<size_t>(slot)] = keys[i];
    device_freq_[static_cast<size_t>(slot)] = freq;
    UseDeviceSlot(slot, step);
    update_keys[updates] = keys[i];
    update_locations[updates++] = slot;
    slots[i] = slot;
  }
  map_.InsertOrAssignBatch(updates, update_keys, update_locations);
  const int64_t moved = n - hits - rejected;
  stats_.rejected += rejected;
  stats_.hits += hits;
  stats_.misses += moved;
  stats_.loads += loads;
  stats_.ssd_loads += ssd_loads;
  stats_.evictions += evictions;
  stats_.new_keys += moved - loads;
}

Status Table::CommitEvicted(int64_t e, const float* rows) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (e != static_cast<int64_t>(pending_rows_.size())) {
    return Status::InvalidArgument("CommitEvicted on table '" + name() + "': got " +
                                   std::to_string(e) + " rows, the outstanding plan evicted " +
                                   std::to_string(pending_rows_.size()));
  }
  // A key erased meanwhile has released its reserved row; writing into it is
  // harmless because no host row is handed out before this commit (PlanLookup
  // refuses to run while a plan is outstanding).
  for (int64_t j = 0; j < e; ++j) {
    std::copy_n(rows + j * row_width_, row_width_, host_.Row(pending_rows_[static_cast<size_t>(j)]));
  }
  pending_rows_.clear();
  return Status::OK();
}

template <typename K>
Status Table::FindRows(int64_t n, const K* keys, int64_t* slots, float* host_rows,
                       bool* found) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (!pending_rows_.empty()) {
    return Status::FailedPrecondition(
        "FindRows on table '" + name() + "': a lookup plan is outstanding (" +
        std::to_string(pending_rows_.size()) +
        " evicted rows not committed); call CommitEvicted first");
  }
  ForEachInt64Chunk(n, keys, [&](int64_t base, int64_t len, const int64_t* wide) {
    map_.FindBatch(len, wide, slots + base);
  });
  std::vector<int64_t> ssd_positions;
  for (int64_t i = 0; i < n; ++i) {
    found[i] = slots[i] != KeySlotMap::kNoSlot;
    if (IsHostRow(slots[i])) {
      std::copy_n(host_.Row(HostRowOf(slots[i])), row_width_, host_rows + i * row_width_);
      slots[i] = KeySlotMap::kNoSlot;
    } else if (IsOnSsd(slots[i])) {
      ssd_positions.push_back(i);
      slots[i] = KeySlotMap::kNoSlot;
    }
  }
  if (!ssd_positions.empty()) {
    // One batched read; the keys stay where they are.
    const int64_t m = static_cast<int64_t>(ssd_positions.size());
    std::vector<int64_t> ssd_keys(ssd_positions.size());
    for (int64_t j = 0; j < m; ++j) ssd_keys[j] = static_cast<int64_t>(keys[ssd_positions[j]]);
    std::vector<float> rows(static_cast<size_t>(m * row_width_));
    std::unique_ptr<bool[]> held(new bool[static_cast<size_t>(m)]);
    const Status s = ssd_->Get(m, ssd_keys.data(), rows.data(), held.get());
    if (!s.ok()) return Status(s.code(), "FindRows on table '" + name() + "': " + s.message());
    for (int64_t j = 0; j < m; ++j) {
      if (!held[j]) {
        return Status::Internal("FindRows on table '" + name() + "': key " +
                                std::to_string(ssd_keys[j]) +
                                " is mapped to the SSD tier but the SSD tier does not hold it");
      }
      std::copy_n(rows.data() + j * row_width_, row_width_, host_rows + ssd_positions[j] * row_width_);
    }
  }
  return Status::OK();
}

template <typename K>
void Table::Find(int64_t n, const K* keys, int64_t* slots) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  // An int64 key outside an int32 table's range was never inserted, so the
  // map itself answers kNoSlot for it.
  ForEachInt64Chunk(n, keys, [&](int64_t base, int64_t len, const int64_t* wide) {
    map_.FindBatch(len, wide, slots + base);
  });
  if (options_.ddr_mode()) {
    for (int64_t i = 0; i < n; ++i) {
      if (IsOffDevice(slots[i])) slots[i] = KeySlotMap::kNoSlot;
    }
  }
}

void Table::Locate(int64_t n, const int64_t* keys, int8_t* tier) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  int64_t locations[kWidenChunk];
  for (int64_t base = 0; base < n; base += kWidenChunk) {
    const int64_t len = std::min(kWidenChunk, n - base);
    map_.FindBatch(len, keys + base, locations);
    for (int64_t i = 0; i < len; ++i) {
      tier[base + i] = locations[i] == KeySlotMap::kNoSlot ? kTierAbsent
                       : IsHostRow(locations[i])          ? kTierHost
                       : IsOnSsd(locations[i])            ? kTierSsd
                                                          : kTierDevice;
    }
  }
}

template <typename K>
int64_t Table::Erase(int64_t n, const K* keys) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (n <= 0) return 0;
  std::vector<int64_t> wide(keys, keys + n);
  if (admission_ != nullptr) admission_->Forget(n, wide.data());
  return EraseLocked(n, wide.data(), nullptr);
}

int64_t Table::EraseLocked(int64_t n, const int64_t* keys, std::vector<int64_t>* freed) {
  scratch_keys_.resize(static_cast<size_t>(n));
  int64_t* const removed_slots = scratch_keys_.data();
  const int64_t removed = map_.EraseBatch(n, keys, removed_slots);
  std::vector<int64_t> ssd_keys;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t location = removed_slots[i];
    if (location == KeySlotMap::kNoSlot) continue;
    if (IsHostRow(location)) {
      ReleaseHostRow(HostRowOf(location));
    } else if (IsOnSsd(location)) {
      ssd_keys.push_back(keys[i]);
    } else {
      slots_.Release(location);
      if (IsHot(location)) {
        Unhot(location);
      } else if (options_.ddr_mode()) {
        cache_.Remove(location);
      }
      if (freed != nullptr) freed->push_back(location);
    }
  }
  if (!ssd_keys.empty()) {
    // The keys are gone either way; a failed delete only leaves garbage
    // bytes (counted in the SSD tier's erase_errors).
    static_cast<void>(ssd_->Erase(static_cast<int64_t>(ssd_keys.size()), ssd_keys.data()));
  }
  return removed;
}

int64_t Table::MarkRejected(int64_t n, const int64_t* keys, int64_t* slots, int64_t* scratch) {
  if (admission_ == nullptr) return 0;
  int64_t absent = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) scratch[absent++] = keys[i];
  }
  if (admitted_capacity_ < absent) {
    admitted_.reset(new bool[static_cast<size_t>(absent)]);
    admitted_capacity_ = absent;
  }
  admission_->Admitted(absent, scratch, admitted_.get());
  int64_t rejected = 0;
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot && !admitted_[j++]) {
      slots[i] = kRejected;
      ++rejected;
    }
  }
  return rejected;
}

Status Table::ConfigureAdmission(const AdmissionOptions& options) {
  ASC_RETURN_IF_ERROR(options.Validate());
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr) {
    admission_.reset(new KeyAdmission(options));
    return Status::OK();
  }
  const AdmissionOptions& have = admission_->options();
  if (have == options) return Status::OK();
  return Status::FailedPrecondition(
      "table '" + name() + "' already has access_threshold=" +
      std::to_string(have.access_threshold) + ", eviction_threshold=" +
      std::to_string(have.eviction_threshold) + "; cannot change them to access_threshold=" +
      std::to_string(options.access_threshold) + ", eviction_threshold=" +
      std::to_string(options.eviction_threshold));
}

bool Table::has_admission() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return admission_ != nullptr;
}

template <typename K>
Status Table::RecordAccess(int64_t n, const K* keys, const int32_t* counts, int64_t coefficient,
                           int64_t time, bool begin_step) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr) {
    return Status::FailedPrecondition("RecordAccess on table '" + name() +
                                      "': admission is not configured (access_threshold)");
  }
  if (n < 0 || coefficient < 1) {
    return Status::InvalidArgument("RecordAccess on table '" + name() +
                                   "': need n >= 0 and faae_coefficient >= 1, got n=" +
                                   std::to_string(n) + ", faae_coefficient=" +
                                   std::to_string(coefficient));
  }
  ASC_RETURN_IF_ERROR(CheckKeyRange(n, keys));
  scratch_keys_.resize(2 * static_cast<size_t>(n));
  int64_t* const wide = scratch_keys_.data();
  int64_t* const weights = wide + n;
  for (int64_t i = 0; i < n; ++i) {
    if (counts[i] < 0) {
      return Status::InvalidArgument("RecordAccess on table '" + name() +
                                     "': occurrence counts must be >= 0, got " +
                                     std::to_string(counts[i]));
    }
    wide[i] = static_cast<int64_t>(keys[i]);
    // counts < 2^31 and coefficient < 2^31 cannot overflow int64.
    weights[i] = static_cast<int64_t>(counts[i]) * coefficient;
  }
  if (time < 0) {
    if (begin_step) ++own_clock_;
    time = own_clock_;
  }
  admission_->Record(n, wide, weights, time);
  return Status::OK();
}

Status Table::EvictStale(std::vector<int64_t>* freed_slots, int64_t* evicted) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr || admission_->options().eviction_threshold == 0) {
    return Status::FailedPrecondition("EvictStale on table '" + name() +
                                      "': no eviction_threshold is configured");
  }
  if (!pending_rows_.empty()) {
    return Status::FailedPrecondition("EvictStale on table '" + name() +
                                      "': a plan's evicted rows are not committed yet");
  }
  std::vector<int64_t> stale;
  admission_->TakeStale(&stale);
  freed_slots->clear();
  *evicted = stale.empty() ? 0 : EraseLocked(static_cast<int64_t>(stale.size()), stale.data(),
                                              freed_slots);
  stats_.stale_evicted += *evicted;
  return Status::OK();
}

Status Table::ExportAdmission(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
                              std::vector<int64_t>* last_seen) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr) {
    return Status::FailedPrecondition("table '" + name() + "' has no admission configured");
  }
  admission_->Export(keys, counts, last_seen);
  return Status::OK();
}

Status Table::ImportAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                              const int64_t* last_seen) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr) {
    return Status::FailedPrecondition("table '" + name() + "' has no admission configured");
  }
  return admission_->Import(n, keys, counts, last_seen);
}

void Table::Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  keys->clear();
  slots->clear();
  keys->reserve(static_cast<size_t>(map_.size()));
  slots->reserve(static_cast<size_t>(map_.size()));
  map_.ForEach([&](int64_t key, int64_t location) {
    keys->push_back(key);
    slots->push_back(IsOffDevice(location) ? KeySlotMap::kNoSlot : location);
  });
}

int64_t Table::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return map_.size();
}

int64_t Table::capacity() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return slots_.capacity();
}

int64_t Table::memory_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return map_.memory_bytes() + cache_.memory_bytes() + hot_cache_.memory_bytes() +
         host_.memory_bytes() +
         (admission_ != nullptr ? admission_->memory_bytes() + admitted_capacity_ : 0) +
         static_cast<int64_t>(hot_flag_.capacity() + hot_counts_.capacity() * sizeof(uint32_t) +
                              hot_leaving_.capacity() * sizeof(int64_t)) +
         static_cast<int64_t>((scratch_keys_.capacity() + device_keys_.capacity() +
                               pending_rows_.capacity()) *
                              sizeof(int64_t)) +
         static_cast<int64_t>(device_freq_.capacity() * sizeof(uint32_t) +
                              host_meta_.capacity() * sizeof(HostRowMeta)) +
         (ssd_ != nullptr ? ssd_->memory_bytes() +
                                static_cast<int64_t>((demoted_rows_.capacity() +
                                                      demoted_keys_.capacity() +
                                                      ssd_keys_.capacity()) *
                                                     sizeof(int64_t)) +
                                static_cast<int64_t>((demoted_data_.capacity() +
                                                      ssd_rows_.capacity()) *
                                                     sizeof(float)) +
                                ssd_found_capacity_
                          : 0);
}

TableStats Table::stats() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  TableStats s = stats_;
  s.device_keys = slots_.used();
  s.host_keys = host_.size();
  if (admission_ != nullptr) s.admission_keys = admission_->size();
  s.hot_keys = hot_cache_.size();
  if (ssd_ != nullptr) {
    const SsdTierStats ssd = ssd_->stats();
    s.ssd_keys = ssd.rows;
    s.ssd_reads = ssd.reads;
    s.ssd_writes = ssd.writes;
    s.ssd_bytes_read = ssd.bytes_read;
    s.ssd_bytes_written = ssd.bytes_written;
  }
  return s;
}

std::vector<std::string> Table::ssd_directories() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ssd_ != nullptr ? ssd_->directories() : std::vector<std::string>();
}

void Table::SetSsdWriteFaultForTesting(bool on) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (ssd_ != nullptr) ssd_->SetWriteFaultForTesting(on);
}

void Table::SetSsdMinFreeBytesForTesting(size_t path_index, int64_t bytes) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (ssd_ != nullptr) ssd_->SetMinFreeBytesForTesting(path_index, bytes);
}

template Status Table::FindOrInsert<int32_t>(int64_t, const int32_t*, int64_t*, bool*, int64_t*);
template Status Table::FindOrInsert<int64_t>(int64_t, const int64_t*, int64_t*, bool*, int64_t*);
template Status Table::PlanLookup<int32_t>(int64_t, const int32_t*, bool, int64_t*, bool*,
                                           SwapPlan*);
template Status Table::PlanLookup<int64_t>(int64_t, const int64_t*, bool, int64_t*, bool*,
                                           SwapPlan*);
template Status Table::FindRows<int32_t>(int64_t, const int32_t*, int64_t*, float*, bool*) const;
template Status Table::FindRows<int64_t>(int64_t, const int64_t*, int64_t*, float*, bool*) const;
template void Table::Find<int32_t>(int64_t, const int32_t*, int64_t*) const;
template void Table::Find<int64_t>(int64_t, const int64_t*, int64_t*) const;
template int64_t Table::Erase<int32_t>(int64_t, const int32_t*);
template int64_t Table::Erase<int64_t>(int64_t, const int64_t*);
template Status Table::RecordAccess<int32_t>(int64_t, const int32_t*, const int32_t*, int64_t,
                                             int64_t, bool);
template Status Table::RecordAccess<int64_t>(int64_t, const int64_t*, const int32_t*, int64_t,
                                             int64_t, bool);

}  // namespace asc
