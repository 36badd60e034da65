#include "asc/table.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>

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

inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The map is sized up front for the device tier's keys, so a table that fills
// its tier never pauses a step to rehash; the cap keeps an oversized
// device_vocabulary_size from reserving memory no key will use.
constexpr int64_t kMaxPresizedKeys = int64_t{1} << 24;

}  // namespace

// ---- construction -----------------------------------------------------------

Table::Table(const TableOptions& options)
    : options_(options),
      row_width_(options.dim),
      map_(std::min(options.device_vocabulary_size + options.host_vocabulary_size,
                    kMaxPresizedKeys)),
      slots_(options.device_vocabulary_size),
      slot_state_(static_cast<size_t>(options.device_vocabulary_size), 0),
      // LFU draws victims among the cached slots; with hot slots out of cache_
      // most random slots would be hot, so the hot LFU table draws members.
      cache_(options.ddr_mode() ? options.device_vocabulary_size : 0,
             options.hot_mode() && options.cache_policy == CachePolicy::kLfu),
      host_(new HostTier(row_width_, options.host_vocabulary_size)),
      device_keys_(static_cast<size_t>(options.ddr_mode() ? options.device_vocabulary_size : 0)),
      device_freq_(static_cast<size_t>(options.ddr_mode() ? options.device_vocabulary_size : 0)),
      hot_cache_(options.hot_mode() ? options.device_vocabulary_size : 0),
      hot_flag_(static_cast<size_t>(options.hot_mode() ? options.device_vocabulary_size : 0)),
      hot_threshold_(kMinHotThreshold) {}

Table::~Table() = default;

namespace {

Status OpenSsd(const TableOptions& options, int64_t row_width, std::unique_ptr<SsdTier>* out) {
  SsdTierOptions ssd;
  ssd.paths = options.ssd_data_path;
  ssd.name = options.name;
  ssd.row_width = row_width;
  ssd.capacity = options.ssd_vocabulary_size;
  ssd.min_free_bytes = options.ssd_min_free_bytes;
  const Status s = SsdTier::Open(ssd, out);
  if (!s.ok()) return Status(s.code(), "table '" + options.name + "': " + s.message());
  return Status::OK();
}

}  // namespace

Status Table::Create(const TableOptions& options, std::unique_ptr<Table>* out) {
  ASC_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Table> table(new Table(options));
  if (options.ssd_mode()) ASC_RETURN_IF_ERROR(OpenSsd(options, table->row_width_, &table->ssd_));
  *out = std::move(table);
  return Status::OK();
}

Status Table::SetRowWidth(int64_t width) {
  if (width == row_width_) return Status::OK();
  if (width < options_.dim || width > TableOptions::kMaxRowWidth) {
    return Status::InvalidArgument("table '" + name() + "': device rows of " +
                                   std::to_string(width) + " floats, need [dim=" +
                                   std::to_string(options_.dim) + ", " +
                                   std::to_string(TableOptions::kMaxRowWidth) + "]");
  }
  if (!options_.ddr_mode()) {
    row_width_ = width;
    return Status::OK();
  }
  const int64_t off_device = host_->size() + (ssd_ != nullptr ? ssd_->size() : 0);
  if (off_device > 0) {
    return Status::FailedPrecondition(
        "table '" + name() + "' keeps " + std::to_string(off_device) +
        " rows off the device with " + std::to_string(row_width_) +
        " floats each (embedding + optimizer state), but its device rows now have " +
        std::to_string(width) +
        ": a hash optimizer started training the table after rows moved to the host tier; "
        "create every hash optimizer that trains a table with a host tier before its first step");
  }
  if (ssd_ != nullptr) ASC_RETURN_IF_ERROR(ssd_->SetRowWidth(width));
  host_.reset(new HostTier(width, options_.host_vocabulary_size));
  host_meta_.clear();
  row_width_ = width;
  return Status::OK();
}

// ---- steps --------------------------------------------------------------------

Table::StepId Table::BeginStep() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  const StepId id = ++clock_;
  steps_[id].time = clock_;
  if (options_.hot_mode()) RefreshHot(clock_);
  return id;
}

Table::StepState* Table::FindStep(StepId step) {
  auto it = steps_.find(step);
  return it == steps_.end() ? nullptr : &it->second;
}

void Table::Pin(StepState* st, int64_t slot, int64_t key) {
  uint32_t& state = slot_state_[static_cast<size_t>(slot)];
  if ((state & kPinMask) == 0) ++pinned_slots_;
  ++state;
  st->pinned.emplace_back(slot, key);
}

void Table::Unpin(int64_t slot, int64_t key) {
  uint32_t& state = slot_state_[static_cast<size_t>(slot)];
  --state;
  if ((state & kPinMask) != 0) return;
  --pinned_slots_;
  if ((state & kZombie) != 0) {
    FreeDeviceSlot(slot);
  } else if ((state & kUninit) != 0) {
    // No step wrote the row and none uses it any more: the key never was.
    int64_t removed;
    map_.EraseBatch(1, &key, &removed);
    FreeDeviceSlot(slot);
  }
}

void Table::FreeDeviceSlot(int64_t slot) {
  slots_.Release(slot);
  slot_state_[static_cast<size_t>(slot)] = 0;
  if (IsHot(slot)) {
    Unhot(slot);
  } else if (options_.ddr_mode() && cache_.Contains(slot)) {
    cache_.Remove(slot);
  }
}

void Table::EndStep(StepId step, bool commit) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = steps_.find(step);
  if (it == steps_.end()) return;
  StepState st = std::move(it->second);
  steps_.erase(it);
  if (!commit) {
    if (admission_ != nullptr) {
      for (auto r = st.admission.rbegin(); r != st.admission.rend(); ++r) admission_->Undo(*r);
    }
    if (st.advanced_clock && own_clock_ == st.own_clock) --own_clock_;
  }
  for (const auto& [key, slot] : st.inserted) {
    int64_t location;
    map_.FindBatch(1, &key, &location);
    // Erased meanwhile (and maybe inserted again by another step elsewhere).
    if (location != slot) continue;
    uint32_t& state = slot_state_[static_cast<size_t>(location)];
    if ((state & kProvisional) == 0) continue;  // another step used it: it stays
    if (commit) {
      state &= ~kProvisional;
    } else {
      const int64_t k = key;
      EraseLocked(1, &k);
      ++stats_.rolled_back_keys;
    }
  }
  for (const auto& [slot, key] : st.pinned) Unpin(slot, key);
}

// ---- feature admission --------------------------------------------------------

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

Status Table::RecordAccessLocked(StepState* st, int64_t n, const int64_t* keys,
                                 const KeyAccess& access, bool* advanced) {
  *advanced = false;
  if (access.coefficient < 1 || access.counts == nullptr) {
    return Status::InvalidArgument("lookup of table '" + name() +
                                   "': faae_coefficient must be >= 1, got " +
                                   std::to_string(access.coefficient));
  }
  std::vector<int64_t>& weights = scratch_keys_;
  weights.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (access.counts[i] < 0) {
      return Status::InvalidArgument("lookup of table '" + name() +
                                     "': occurrence counts must be >= 0, got " +
                                     std::to_string(access.counts[i]));
    }
    // counts < 2^31 and coefficient < 2^31 cannot overflow int64.
    weights[static_cast<size_t>(i)] = static_cast<int64_t>(access.counts[i]) * access.coefficient;
  }
  int64_t time = access.time;
  if (time < 0) {
    if (!st->advanced_clock) {
      st->advanced_clock = true;
      st->own_clock = ++own_clock_;
      *advanced = true;
    }
    time = st->own_clock;
  }
  st->admission.emplace_back();
  admission_->Record(n, keys, weights.data(), time, &st->admission.back());
  return Status::OK();
}

void Table::UndoLastAccess(StepState* st, bool advanced) {
  admission_->Undo(st->admission.back());
  st->admission.pop_back();
  if (advanced) {
    st->advanced_clock = false;
    if (own_clock_ == st->own_clock) --own_clock_;
  }
}

Status Table::EvictStale(int64_t* evicted) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr || admission_->options().eviction_threshold == 0) {
    return Status::FailedPrecondition("EvictStale on table '" + name() +
                                      "': no eviction_threshold is configured");
  }
  std::vector<int64_t> stale;
  admission_->TakeStale(&stale);
  *evicted = stale.empty() ? 0 : EraseLocked(static_cast<int64_t>(stale.size()), stale.data());
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

// ---- training lookups -----------------------------------------------------------

template <typename K>
Status Table::CheckKeyRange(int64_t n, const K* keys) const {
  if constexpr (std::is_same_v<K, int64_t>) {
    if (options_.key_dtype != KeyType::kInt32) return Status::OK();
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

Status Table::PrepareRows(DeviceRows* rows) {
  // An expandable tier grows all its variables together, also one that a
  // hash optimizer started using after the tier grew.
  ASC_RETURN_IF_ERROR(options_.dynamic_expansion ? rows->Grow(slots_.capacity())
                                                 : rows->Check(slots_.capacity()));
  return SetRowWidth(rows->width());
}

template <typename K>
Status Table::Lookup(StepId step, int64_t n, const K* keys, const KeyAccess* access,
                     DeviceRows* rows, int64_t* slots, bool* needs_init) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  StepState* st = FindStep(step);
  if (st == nullptr) {
    return Status::FailedPrecondition("lookup of table '" + name() + "': step " +
                                      std::to_string(step) + " is not open");
  }
  if (n < 0) {
    return Status::InvalidArgument("lookup of table '" + name() +
                                   "': key count must be >= 0, got " + std::to_string(n));
  }
  ASC_RETURN_IF_ERROR(CheckKeyRange(n, keys));
  ASC_RETURN_IF_ERROR(PrepareRows(rows));
  if ((access != nullptr) != (admission_ != nullptr)) {
    return admission_ != nullptr
               ? Status::InvalidArgument("lookup of table '" + name() +
                                         "': the table has admission (access_threshold), so "
                                         "every training lookup must record its keys' access")
               : Status::FailedPrecondition("lookup of table '" + name() +
                                            "' records admission, but admission is not "
                                            "configured (access_threshold)");
  }
  wide_keys_.assign(keys, keys + n);
  bool advanced = false;
  if (access != nullptr) {
    ASC_RETURN_IF_ERROR(RecordAccessLocked(st, n, wide_keys_.data(), *access, &advanced));
  }
  const Status s = options_.ddr_mode()
                       ? LookupDdr(st, n, wide_keys_.data(), rows, slots, needs_init)
                       : LookupHbm(st, n, wide_keys_.data(), rows, slots, needs_init);
  if (!s.ok() && access != nullptr) UndoLastAccess(st, advanced);
  return s;
}

void Table::UseHit(StepState* st, int64_t slot, int64_t key, bool* needs_init) {
  uint32_t& state = slot_state_[static_cast<size_t>(slot)];
  *needs_init = (state & kUninit) != 0;
  // Another open step's new key, now used by this one: it stays even if the
  // step that inserted it fails.
  if ((state & kProvisional) != 0 && st->inserted.count(key) == 0) state &= ~kProvisional;
  Pin(st, slot, key);
}

Status Table::LookupHbm(StepState* st, int64_t n, const int64_t* keys, DeviceRows* rows,
                        int64_t* slots, bool* needs_init) {
  // scratch_keys_[0, n): keys, compacted to the absent ones;
  // scratch_keys_[n, 2n): the slots given to those absent keys.
  scratch_keys_.resize(2 * static_cast<size_t>(n));
  int64_t* const missing_keys = scratch_keys_.data();
  int64_t* const missing_slots = missing_keys + n;
  map_.FindBatch(n, keys, slots);
  const int64_t rejected = MarkRejected(n, keys, slots, missing_slots);
  int64_t missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) missing_keys[missing++] = keys[i];
  }
  if (missing > 0) {
    // A repeated absent key would get two slots and leak one; a repeated
    // present key is harmless. Checking only absent keys keeps the steady
    // state (mostly hits) free of the extra pass.
    if (DedupKeys<int64_t>(missing, missing_keys, nullptr, nullptr, nullptr) != missing) {
      return Status::InvalidArgument("lookup of table '" + name() +
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
      // Growing the variables is the last step that can fail.
      ASC_RETURN_IF_ERROR(rows->Grow(grown));
      slots_.Grow(grown);
      slot_state_.resize(static_cast<size_t>(grown), 0);
    }
  }
  int64_t next_missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) {
      const int64_t slot = slots_.Allocate();
      slots[i] = slot;
      missing_slots[next_missing++] = slot;
      slot_state_[static_cast<size_t>(slot)] = kUninit | kProvisional;
      st->inserted.emplace(keys[i], slot);
      needs_init[i] = true;
      Pin(st, slot, keys[i]);
    } else if (slots[i] == kRejected) {
      slots[i] = KeySlotMap::kNoSlot;
      needs_init[i] = false;
    } else {
      UseHit(st, slots[i], keys[i], &needs_init[i]);
    }
  }
  map_.InsertBatch(missing, missing_keys, missing_slots);
  stats_.rejected += rejected;
  stats_.hits += n - missing - rejected;
  stats_.misses += missing;
  stats_.new_keys += missing;
  return Status::OK();
}

Status Table::LookupDdr(StepState* st, int64_t n, const int64_t* keys, DeviceRows* rows,
                        int64_t* slots, bool* needs_init) {
  // scratch_keys_[0, n): the keys that need a device slot (uniqueness
  // check); ApplyPlan reuses [0, 4n) for map updates.
  scratch_keys_.resize(4 * static_cast<size_t>(n));
  int64_t* const moving_keys = scratch_keys_.data();
  map_.FindBatch(n, keys, slots);
  MarkRejected(n, keys, slots, moving_keys);
  int64_t moving = 0;        // keys needing a device slot: from host/SSD, or new
  int64_t from_host = 0;
  int64_t from_ssd = 0;
  int64_t newly_pinned = 0;  // device hits no open step pins yet
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) {
      // A repeated device key (allowed) counts once.
      uint32_t& state = slot_state_[static_cast<size_t>(slots[i])];
      if (!Pinned(slots[i]) && (state & kCounted) == 0) {
        state |= kCounted;
        ++newly_pinned;
      }
    } else if (slots[i] != kRejected) {
      moving_keys[moving++] = keys[i];
      if (IsOnSsd(slots[i])) {
        ++from_ssd;
      } else if (slots[i] != KeySlotMap::kNoSlot) {
        ++from_host;
      }
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) slot_state_[static_cast<size_t>(slots[i])] &= ~kCounted;
  }
  // A repeated key off the device would get two slots; a repeated device hit
  // is harmless, so the common all-hits case skips the extra pass.
  if (moving > 0 && DedupKeys<int64_t>(moving, moving_keys, nullptr, nullptr, nullptr) != moving) {
    return Status::InvalidArgument("lookup of table '" + name() +
                                   "': keys must be unique within a call (run DedupKeys first)");
  }

  // Count needs before mutating anything. Slots pinned by open steps (this
  // call's hits once pinned) cannot be victims; hot slots can, once the
  // others are used up (DeviceVictim).
  const int64_t victims = std::max<int64_t>(0, moving - slots_.available());
  int64_t demote = 0;
  if (victims > 0) {
    const int64_t pinned = pinned_slots_ + newly_pinned;
    if (victims > slots_.used() - pinned) {
      return Status::ResourceExhausted(
          "table '" + name() + "': the device tier (device_vocabulary_size=" +
          std::to_string(slots_.capacity()) + ") cannot hold the unique keys of the steps running " +
          "now: " + std::to_string(pinned) + " rows are in use and this lookup needs " +
          std::to_string(moving) + " more; enlarge device_vocabulary_size");
    }
    // Host rows are released (loads) before victims reserve theirs, so the
    // tier never holds more than max(now, after) rows during the call.
    const int64_t host_after = host_->size() - from_host + victims;
    if (host_after > host_->capacity() && ssd_ != nullptr) {
      // Demote the excess to SSD; rows this call loads are not candidates.
      demote = host_after - host_->capacity();
      const int64_t ssd_after = ssd_->size() - from_ssd + demote;
      if (demote > host_->size() - from_host || ssd_after > options_.ssd_vocabulary_size) {
        return Status::ResourceExhausted(
            "table '" + name() + "': every tier is full (device_vocabulary_size=" +
            std::to_string(slots_.capacity()) + ", host_vocabulary_size=" +
            std::to_string(host_->capacity()) + ", ssd_vocabulary_size=" +
            std::to_string(options_.ssd_vocabulary_size) + "; " + std::to_string(host_->size()) +
            " host rows and " + std::to_string(ssd_->size()) + " SSD rows held); this lookup evicts " +
            std::to_string(victims) + " rows and loads " + std::to_string(from_host) +
            " from host and " + std::to_string(from_ssd) +
            " from SSD; enlarge ssd_vocabulary_size or host_vocabulary_size");
      }
    } else if (host_after > host_->capacity()) {
      return Status::ResourceExhausted(
          "table '" + name() + "': the host tier is full (host_vocabulary_size=" +
          std::to_string(host_->capacity()) + ", " + std::to_string(host_->size()) +
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
      if (IsOnSsd(slots[i])) ssd_keys_.push_back(keys[i]);
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
      std::copy_n(host_->Row(row), w, demoted_data_.data() + d * w);
    }
    const Status s = ssd_->Exchange(demote, demoted_keys_.data(), demoted_data_.data(), from_ssd,
                                    ssd_keys_.data());
    if (!s.ok()) {
      demoted_rows_.clear();
      return Status(s.code(), "lookup of table '" + name() + "': " + s.message());
    }
  }
  ApplyPlan(st, n, keys, slots, needs_init, &moves_);
  // The victims' rows leave before anything is written into their slots.
  const int64_t evicted = static_cast<int64_t>(moves_.evict_slots.size());
  scratch_rows_.resize(static_cast<size_t>(evicted * row_width_));
  Status s = rows->Gather(evicted, moves_.evict_slots.data(), scratch_rows_.data());
  if (s.ok()) {
    for (int64_t j = 0; j < evicted; ++j) {
      std::copy_n(scratch_rows_.data() + j * row_width_, row_width_,
                  host_->Row(moves_.evict_rows[static_cast<size_t>(j)]));
    }
    s = rows->Scatter(static_cast<int64_t>(moves_.load_slots.size()), moves_.load_slots.data(),
                      moves_.load_data.data());
  }
  if (!s.ok()) {
    // Check passed under this lock, so only storage replaced under the table
    // (variables re-initialised during the step) gets here.
    return Status::Internal("table '" + name() + "': its device rows changed during a lookup (" +
                            s.message() + "); re-initialise the table");
  }
  return Status::OK();
}

void Table::ApplyPlan(StepState* st, int64_t n, const int64_t* keys, int64_t* slots,
                      bool* needs_init, Moves* moves) {
  const uint64_t time = st->time;
  moves->evict_slots.clear();
  moves->evict_rows.clear();
  moves->load_slots.clear();
  moves->load_data.clear();
  // Demoted rows are on SSD already (LookupDdr wrote them): free their host
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
      UseDeviceSlot(slots[i], time);
      UseHit(st, slots[i], keys[i], &needs_init[i]);
      ++hits;
    }
  }
  // (key, location) updates: each moving key, plus each victim's key. All
  // distinct: victims are unpinned device keys, moving keys were off-device.
  int64_t* const update_keys = scratch_keys_.data();
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
      needs_init[i] = false;
      ++rejected;
      continue;
    }
    uint32_t freq = 1;
    if (IsOnSsd(location)) {
      // Read (and erased from SSD) by LookupDdr, in call order.
      const float* data = ssd_rows_.data() + ssd_loads * row_width_;
      moves->load_data.insert(moves->load_data.end(), data, data + row_width_);
      ++ssd_loads;
      ++loads;
    } else if (location != KeySlotMap::kNoSlot) {
      // Copy out and free the host row first: a victim below may reuse it.
      const int64_t row = HostRowOf(location);
      const float* data = host_->Row(row);
      moves->load_data.insert(moves->load_data.end(), data, data + row_width_);
      freq = Bump(host_meta_[static_cast<size_t>(row)].freq);
      ReleaseHostRow(row);
      ++loads;
    }
    int64_t slot;
    if (slots_.available() > 0) {
      slot = slots_.Allocate();
    } else {
      // Exists: LookupDdr counted enough unpinned slots.
      slot = DeviceVictim(time);
      const int64_t row = AllocateHostRow(device_keys_[static_cast<size_t>(slot)],
                                          device_freq_[static_cast<size_t>(slot)]);
      moves->evict_slots.push_back(slot);
      moves->evict_rows.push_back(row);
      update_keys[updates] = device_keys_[static_cast<size_t>(slot)];
      update_locations[updates++] = EncodeHostRow(row);
      ++evictions;
    }
    const bool is_new = location == KeySlotMap::kNoSlot;
    if (!is_new) moves->load_slots.push_back(slot);
    needs_init[i] = is_new;
    slot_state_[static_cast<size_t>(slot)] = is_new ? kUninit | kProvisional : 0;
    if (is_new) st->inserted.emplace(keys[i], slot);
    device_keys_[static_cast<size_t>(slot)] = keys[i];
    device_freq_[static_cast<size_t>(slot)] = freq;
    UseDeviceSlot(slot, time);
    Pin(st, slot, keys[i]);
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

Status Table::Fill(StepId step, int64_t n, const int64_t* slots, const float* embedding,
                   DeviceRows* rows) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  StepState* st = FindStep(step);
  if (st == nullptr) {
    return Status::FailedPrecondition("fill of table '" + name() + "': step " +
                                      std::to_string(step) + " is not open");
  }
  const int64_t dim = options_.dim;
  fill_slots_.clear();
  scratch_rows_.clear();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = slots[i];
    if (slot < 0 || slot >= slots_.capacity() || !Pinned(slot)) {
      return Status::FailedPrecondition("fill of table '" + name() + "': slot " +
                                        std::to_string(slot) + " is not in use by step " +
                                        std::to_string(step));
    }
    if ((slot_state_[static_cast<size_t>(slot)] & kUninit) == 0) continue;  // filled already
    fill_slots_.push_back(slot);
    scratch_rows_.insert(scratch_rows_.end(), embedding + i * dim, embedding + (i + 1) * dim);
  }
  if (!fill_slots_.empty()) {
    // Only the step's own slots: another step's may be reassigned once it ends.
    std::unordered_map<int64_t, bool> mine;
    for (int64_t slot : fill_slots_) mine.emplace(slot, false);
    for (const auto& pinned : st->pinned) {
      auto it = mine.find(pinned.first);
      if (it != mine.end()) it->second = true;
    }
    for (const auto& [slot, found] : mine) {
      if (!found) {
        return Status::FailedPrecondition("fill of table '" + name() + "': slot " +
                                          std::to_string(slot) + " is not in use by step " +
                                          std::to_string(step));
      }
    }
  }
  ASC_RETURN_IF_ERROR(rows->Initialize(static_cast<int64_t>(fill_slots_.size()),
                                       fill_slots_.data(), scratch_rows_.data()));
  for (int64_t slot : fill_slots_) slot_state_[static_cast<size_t>(slot)] &= ~kUninit;
  return Status::OK();
}

// ---- reads ------------------------------------------------------------------------

template <typename K>
Status Table::Read(int64_t n, const K* keys, const DeviceRows& rows, float* out,
                   bool* found) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const int64_t dim = options_.dim;
  std::vector<int64_t> locations(static_cast<size_t>(n));
  ForEachInt64Chunk(n, keys, [&](int64_t base, int64_t len, const int64_t* wide) {
    map_.FindBatch(len, wide, locations.data() + base);
  });
  std::vector<int64_t> device_pos, device_slots, ssd_pos, ssd_keys;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t location = locations[static_cast<size_t>(i)];
    found[i] = location != KeySlotMap::kNoSlot;
    if (!found[i]) continue;
    if (IsHostRow(location)) {
      std::copy_n(host_->Row(HostRowOf(location)), dim, out + i * dim);
    } else if (IsOnSsd(location)) {
      ssd_pos.push_back(i);
      ssd_keys.push_back(static_cast<int64_t>(keys[i]));
    } else if ((slot_state_[static_cast<size_t>(location)] & kUninit) != 0) {
      found[i] = false;  // no step has written its row yet
    } else {
      device_pos.push_back(i);
      device_slots.push_back(location);
    }
  }
  if (!device_slots.empty()) {
    std::vector<float> gathered(device_slots.size() * static_cast<size_t>(dim));
    ASC_RETURN_IF_ERROR(rows.ReadEmbedding(static_cast<int64_t>(device_slots.size()),
                                           device_slots.data(), gathered.data()));
    for (size_t j = 0; j < device_pos.size(); ++j) {
      std::copy_n(gathered.data() + j * dim, dim, out + device_pos[j] * dim);
    }
  }
  if (!ssd_keys.empty()) {
    // One batched read; the keys stay where they are.
    const int64_t m = static_cast<int64_t>(ssd_keys.size());
    std::vector<float> buffer(static_cast<size_t>(m * row_width_));
    std::unique_ptr<bool[]> held(new bool[static_cast<size_t>(m)]);
    const Status s = ssd_->Get(m, ssd_keys.data(), buffer.data(), held.get());
    if (!s.ok()) return Status(s.code(), "read of table '" + name() + "': " + s.message());
    for (int64_t j = 0; j < m; ++j) {
      if (!held[j]) {
        return Status::Internal("read of table '" + name() + "': key " +
                                std::to_string(ssd_keys[j]) +
                                " is mapped to the SSD tier but the SSD tier does not hold it");
      }
      std::copy_n(buffer.data() + j * row_width_, dim, out + ssd_pos[j] * dim);
    }
  }
  return Status::OK();
}

void Table::Locate(int64_t n, const int64_t* keys, int8_t* tier) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  int64_t locations[kWidenChunk];
  for (int64_t base = 0; base < n; base += kWidenChunk) {
    const int64_t len = std::min(kWidenChunk, n - base);
    map_.FindBatch(len, keys + base, locations);
    for (int64_t i = 0; i < len; ++i) {
      const int64_t l = locations[i];
      tier[base + i] = l == KeySlotMap::kNoSlot ? kTierAbsent
                       : IsHostRow(l)           ? kTierHost
                       : IsOnSsd(l)             ? kTierSsd
                       : (slot_state_[static_cast<size_t>(l)] & kUninit) != 0 ? kTierAbsent
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
  return EraseLocked(n, wide.data());
}

int64_t Table::EraseLocked(int64_t n, const int64_t* keys) {
  std::vector<int64_t> removed_slots(static_cast<size_t>(n));
  const int64_t removed = map_.EraseBatch(n, keys, removed_slots.data());
  std::vector<int64_t> ssd_keys;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t location = removed_slots[static_cast<size_t>(i)];
    if (location == KeySlotMap::kNoSlot) continue;
    if (IsHostRow(location)) {
      ReleaseHostRow(HostRowOf(location));
    } else if (IsOnSsd(location)) {
      ssd_keys.push_back(keys[i]);
    } else if (Pinned(location)) {
      // An open step still reads or updates this row: free it when it ends.
      slot_state_[static_cast<size_t>(location)] =
          (slot_state_[static_cast<size_t>(location)] & kPinMask) | kZombie;
    } else {
      FreeDeviceSlot(location);
    }
  }
  if (!ssd_keys.empty()) {
    // The keys are gone either way; a failed delete only leaves garbage
    // bytes (counted in the SSD tier's erase_errors).
    static_cast<void>(ssd_->Erase(static_cast<int64_t>(ssd_keys.size()), ssd_keys.data()));
  }
  return removed;
}

void Table::Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  keys->clear();
  slots->clear();
  keys->reserve(static_cast<size_t>(map_.size()));
  slots->reserve(static_cast<size_t>(map_.size()));
  map_.ForEach([&](int64_t key, int64_t location) {
    if (IsDeviceSlot(location) && (slot_state_[static_cast<size_t>(location)] & kUninit) != 0) {
      return;
    }
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

int64_t Table::row_width() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return row_width_;
}

int64_t Table::memory_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  constexpr int64_t kI64 = sizeof(int64_t);
  return map_.memory_bytes() + cache_.memory_bytes() + hot_cache_.memory_bytes() +
         host_->memory_bytes() +
         (admission_ != nullptr ? admission_->memory_bytes() + admitted_capacity_ : 0) +
         static_cast<int64_t>(slot_state_.capacity() * sizeof(uint32_t)) +
         static_cast<int64_t>(hot_flag_.capacity() + hot_counts_.capacity() * sizeof(uint32_t)) +
         static_cast<int64_t>(hot_leaving_.capacity() + scratch_keys_.capacity() +
                              wide_keys_.capacity() + device_keys_.capacity() +
                              fill_slots_.capacity()) * kI64 +
         static_cast<int64_t>((scratch_rows_.capacity() + moves_.load_data.capacity()) *
                              sizeof(float)) +
         static_cast<int64_t>(device_freq_.capacity() * sizeof(uint32_t) +
                              host_meta_.capacity() * sizeof(HostRowMeta)) +
         (ssd_ != nullptr ? ssd_->memory_bytes() +
                                static_cast<int64_t>(demoted_rows_.capacity() +
                                                     demoted_keys_.capacity() +
                                                     ssd_keys_.capacity()) * kI64 +
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
  s.host_keys = host_->size();
  if (admission_ != nullptr) s.admission_keys = admission_->size();
  s.hot_keys = hot_cache_.size();
  s.open_steps = static_cast<int64_t>(steps_.size());
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

// ---- tier internals (DDR / SSD / hot) -------------------------------------------

int64_t Table::AllocateHostRow(int64_t key, uint32_t freq) {
  const int64_t row = host_->Allocate();
  if (row >= static_cast<int64_t>(host_meta_.size())) host_meta_.resize(static_cast<size_t>(row) + 1);
  HostRowMeta& m = host_meta_[static_cast<size_t>(row)];
  m.key = key;
  m.freq = freq;
  m.held = true;
  return row;
}

void Table::ReleaseHostRow(int64_t row) {
  host_->Release(row);
  host_meta_[static_cast<size_t>(row)].held = false;
}

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

int64_t Table::LruUnpinned(DeviceCache* cache, uint64_t time) {
  for (int64_t tries = cache->size(); tries > 0; --tries) {
    const int64_t slot = cache->Victim();
    if (!Pinned(slot)) return slot;
    // In use by an open step, so recently used in fact. Slots the calling
    // step pinned are at the MRU end already: only other steps' land here.
    cache->Touch(slot, time);
  }
  return -1;
}

int64_t Table::DeviceVictim(uint64_t time) {
  const int64_t lru = LruUnpinned(&cache_, time);
  if (lru < 0) {
    // Every non-hot slot is pinned, so the precondition leaves an unpinned
    // hot slot.
    const int64_t hot = LruUnpinned(&hot_cache_, time);
    Unhot(hot);
    return hot;
  }
  if (options_.cache_policy != CachePolicy::kLfu) return lru;
  const int64_t capacity = cache_.capacity();
  int64_t best = -1;
  // Lower count wins; on equal counts the less recently used slot. Hot slots
  // are not in cache_. `cached`: the caller knows cache_ holds the slot.
  auto consider = [&](int64_t slot, bool cached = false) {
    if ((!cached && !cache_.Contains(slot)) || Pinned(slot)) return false;
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

void Table::UseDeviceSlot(int64_t slot, uint64_t time) {
  if (!options_.hot_mode()) {
    cache_.Touch(slot, time);
    return;
  }
  if (hot_flag_[static_cast<size_t>(slot)] != 0) {
    hot_cache_.Touch(slot, time);
    ++stats_.hot_hits;
  } else if (device_freq_[static_cast<size_t>(slot)] >= hot_threshold_ &&
             hot_cache_.size() < options_.hot_vocabulary_size) {
    if (cache_.Contains(slot)) cache_.Remove(slot);
    hot_flag_[static_cast<size_t>(slot)] = 1;
    hot_cache_.Touch(slot, time);
  } else {
    cache_.Touch(slot, time);
  }
}

void Table::RefreshHot(uint64_t time) {
  const uint64_t window_steps = static_cast<uint64_t>(options_.hot_refresh_steps);
  const uint64_t window = time / window_steps;
  if (window == hot_window_) return;
  hot_window_ = window;
  // The threshold: the hot_vocabulary_size-th largest count of the device keys.
  hot_counts_.clear();
  for (int64_t slot = 0; slot < slots_.capacity(); ++slot) {
    if (IsHot(slot) || cache_.Contains(slot)) {
      hot_counts_.push_back(device_freq_[static_cast<size_t>(slot)]);
    }
  }
  const size_t rank = static_cast<size_t>(options_.hot_vocabulary_size) - 1;
  hot_threshold_ = kMinHotThreshold;
  if (hot_counts_.size() > rank) {
    std::nth_element(hot_counts_.begin(), hot_counts_.begin() + static_cast<ptrdiff_t>(rank),
                     hot_counts_.end(), std::greater<uint32_t>());
    hot_threshold_ = std::max(kMinHotThreshold, hot_counts_[rank]);
  }
  hot_leaving_.clear();
  hot_cache_.ForEach([&](int64_t slot) {
    const bool idle = hot_cache_.LastUsed(slot) + window_steps < time;
    if (idle || device_freq_[static_cast<size_t>(slot)] < hot_threshold_) hot_leaving_.push_back(slot);
  });
  // Leaving slots stay on the device as the most recently used of cache_.
  for (int64_t slot : hot_leaving_) {
    Unhot(slot);
    cache_.Touch(slot, time - 1);
  }
}

template Status Table::Lookup<int32_t>(StepId, int64_t, const int32_t*, const KeyAccess*,
                                       DeviceRows*, int64_t*, bool*);
template Status Table::Lookup<int64_t>(StepId, int64_t, const int64_t*, const KeyAccess*,
                                       DeviceRows*, int64_t*, bool*);
template Status Table::Read<int32_t>(int64_t, const int32_t*, const DeviceRows&, float*,
                                     bool*) const;
template Status Table::Read<int64_t>(int64_t, const int64_t*, const DeviceRows&, float*,
                                     bool*) const;
template int64_t Table::Erase<int32_t>(int64_t, const int32_t*);
template int64_t Table::Erase<int64_t>(int64_t, const int64_t*);

}  // namespace asc
