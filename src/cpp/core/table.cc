// Table: the lock, the key map, the steps, and the orchestration of the
// parts that keep the per-tier state (each in src/cpp/core/<part>.h):
//   SlotStates     per device slot: open-step pins and flags
//   DeviceTier     DDR: key and count per device slot, recency orders, hot
//                  set (HotSet), device victim policy
//   HostStore      DDR: host rows, their keys and counts, demotion sampling
//   TierSwap       DDR: plan, SSD staging and row transfer of one lookup
//   AdmissionGate  FAAE: records, per-step undo, own clock, rejection
//   SampleRng      the sampling generator DeviceTier and HostStore share
// Key map values are encoded as location.h says.
#include "asc/table.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>

#include "admission_gate.h"
#include "asc/key_dedup.h"
#include "device_tier.h"
#include "host_store.h"
#include "location.h"
#include "sample_rng.h"
#include "slot_states.h"
#include "tier_swap.h"

namespace asc {

using internal::EncodeHostRow;
using internal::HostRowOf;
using internal::IsDeviceSlot;
using internal::IsHostRow;
using internal::IsOffDevice;
using internal::IsOnSsd;
using internal::kOnSsd;
using internal::kRejected;

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

// The map is sized up front for the device tier's keys, so a table that fills
// its tier never pauses a step to rehash; the cap keeps an oversized
// device_vocabulary_size from reserving memory no key will use.
constexpr int64_t kMaxPresizedKeys = int64_t{1} << 24;

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

// ---- construction -----------------------------------------------------------

Table::Table(const TableOptions& options)
    : options_(options),
      row_width_(options.dim),
      map_(std::min(options.device_vocabulary_size + options.host_vocabulary_size,
                    kMaxPresizedKeys)),
      slots_(options.device_vocabulary_size),
      rng_(new internal::SampleRng()),
      states_(new internal::SlotStates(options.device_vocabulary_size)),
      device_(new internal::DeviceTier(options.ddr_mode() ? options.device_vocabulary_size : 0,
                                       options.cache_policy, options.hot_vocabulary_size,
                                       options.hot_refresh_steps, rng_.get())),
      host_(new internal::HostStore(row_width_, options.host_vocabulary_size, rng_.get())),
      swap_(new internal::TierSwap()) {}

Table::~Table() = default;

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
  host_->Reset(width);
  row_width_ = width;
  return Status::OK();
}

// ---- steps --------------------------------------------------------------------

Table::StepId Table::BeginStep() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  const StepId id = ++clock_;
  steps_[id].time = clock_;
  if (options_.hot_mode()) device_->RefreshHot(clock_);
  return id;
}

bool Table::StepState::Inserted(int64_t slot) {
  for (; indexed < inserted.size(); ++indexed) inserted_slots.insert(inserted[indexed].first);
  return inserted_slots.count(slot) != 0;
}

Table::StepState* Table::FindStep(StepId step) {
  auto it = steps_.find(step);
  return it == steps_.end() ? nullptr : &it->second;
}

void Table::Pin(StepState* st, int64_t slot, int64_t key) {
  states_->Pin(slot);
  st->pinned.emplace_back(slot, key);
}

void Table::Unpin(int64_t slot, int64_t key) {
  switch (states_->Unpin(slot)) {
    case internal::SlotStates::Unpinned::kStillPinned:
    case internal::SlotStates::Unpinned::kKeep:
      return;
    case internal::SlotStates::Unpinned::kFree:
      FreeDeviceSlot(slot);
      return;
    case internal::SlotStates::Unpinned::kEraseKey: {
      // No step wrote the row and none uses it any more: the key never was.
      int64_t removed;
      map_.EraseBatch(1, &key, &removed);
      FreeDeviceSlot(slot);
      return;
    }
  }
}

void Table::FreeDeviceSlot(int64_t slot) {
  slots_.Release(slot);
  states_->Reset(slot);
  device_->Release(slot);
}

void Table::EndStep(StepId step, bool commit) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = steps_.find(step);
  if (it == steps_.end()) return;
  StepState st = std::move(it->second);
  steps_.erase(it);
  if (admission_ != nullptr) admission_->EndStep(step, commit);
  const size_t n = st.inserted.size();
  std::vector<int64_t> keys(n), locations(n), erase;
  for (size_t i = 0; i < n; ++i) keys[i] = st.inserted[i].second;
  map_.FindBatch(static_cast<int64_t>(n), keys.data(), locations.data());
  for (size_t i = 0; i < n; ++i) {
    const int64_t slot = st.inserted[i].first;
    // Erased meanwhile (and maybe inserted again by another step elsewhere).
    if (locations[i] != slot) continue;
    if (!states_->Provisional(slot)) continue;  // another step used it: it stays
    if (commit) {
      states_->Adopt(slot);
    } else {
      erase.push_back(keys[i]);
    }
  }
  if (!erase.empty()) {
    EraseLocked(static_cast<int64_t>(erase.size()), erase.data());
    stats_.rolled_back_keys += static_cast<int64_t>(erase.size());
  }
  if (tracking_ && commit) {
    for (int64_t key : st.seen) {
      touched_.insert(key);
      removed_.erase(key);
    }
  }
  for (const auto& [slot, key] : st.pinned) Unpin(slot, key);
}

// ---- feature admission --------------------------------------------------------

Status Table::ConfigureAdmission(const AdmissionOptions& options) {
  ASC_RETURN_IF_ERROR(options.Validate());
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr) {
    admission_.reset(new internal::AdmissionGate(options));
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

Status Table::EvictStale(int64_t* evicted) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (admission_ == nullptr || admission_->options().eviction_threshold == 0) {
    return Status::FailedPrecondition("EvictStale on table '" + name() +
                                      "': no eviction_threshold is configured");
  }
  std::vector<int64_t> stale;
  admission_->records().TakeStale(&stale);
  NoteRemoved(static_cast<int64_t>(stale.size()), stale.data());
  *evicted = stale.empty() ? 0 : EraseLocked(static_cast<int64_t>(stale.size()), stale.data());
  stats_.stale_evicted += *evicted;
  return Status::OK();
}

Status Table::ExportAdmission(std::vector<int64_t>* keys, std::vector<int64_t>* counts,
                              std::vector<int64_t>* last_seen) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  ASC_RETURN_IF_ERROR(CheckAdmission());
  admission_->records().Export(keys, counts, last_seen);
  return Status::OK();
}

Status Table::ImportAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                              const int64_t* last_seen) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  ASC_RETURN_IF_ERROR(CheckAdmission());
  return admission_->records().Import(n, keys, counts, last_seen);
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

Status Table::GrowDevice(int64_t capacity, DeviceRows* rows) {
  ASC_RETURN_IF_ERROR(rows->Grow(capacity));
  slots_.Grow(capacity);
  states_->Grow(capacity);
  return Status::OK();
}

Status Table::CheckAdmission() const {
  if (admission_ != nullptr) return Status::OK();
  return Status::FailedPrecondition("table '" + name() + "' has no admission configured");
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
  if (tracking_) st->seen.insert(st->seen.end(), wide_keys_.begin(), wide_keys_.end());
  bool advanced = false;
  if (access != nullptr) {
    ASC_RETURN_IF_ERROR(
        admission_->Record(name(), step, n, wide_keys_.data(), *access, &scratch_keys_, &advanced));
  }
  const Status s = options_.ddr_mode()
                       ? LookupDdr(st, n, wide_keys_.data(), rows, slots, needs_init)
                       : LookupHbm(st, n, wide_keys_.data(), rows, slots, needs_init);
  if (!s.ok() && access != nullptr) admission_->UndoLast(step, advanced);
  return s;
}

void Table::UseHit(StepState* st, int64_t slot, int64_t key, bool* needs_init) {
  internal::SlotStates& states = *states_;
  *needs_init = states.Uninit(slot);
  // Another open step's new key, now used by this one: it stays even if the
  // step that inserted it fails.
  if (states.Provisional(slot) && !st->Inserted(slot)) states.Adopt(slot);
  states.Pin(slot);
  st->pinned.emplace_back(slot, key);
}

Status Table::LookupHbm(StepState* st, int64_t n, const int64_t* keys, DeviceRows* rows,
                        int64_t* slots, bool* needs_init) {
  // scratch_keys_[0, n): keys, compacted to the absent ones;
  // scratch_keys_[n, 2n): the slots given to those absent keys.
  scratch_keys_.resize(2 * static_cast<size_t>(n));
  int64_t* const missing_keys = scratch_keys_.data();
  int64_t* const missing_slots = missing_keys + n;
  map_.FindBatch(n, keys, slots);
  const int64_t rejected =
      admission_ != nullptr ? admission_->MarkRejected(n, keys, slots, missing_slots) : 0;
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
      ASC_RETURN_IF_ERROR(GrowDevice(grown, rows));
    }
  }
  st->pinned.reserve(st->pinned.size() + static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] >= 0) states_->Prefetch(slots[i]);
  }
  int64_t next_missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] == KeySlotMap::kNoSlot) {
      const int64_t slot = slots_.Allocate();
      slots[i] = slot;
      missing_slots[next_missing++] = slot;
      states_->AssignNewKey(slot);
      st->inserted.emplace_back(slot, keys[i]);
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
  if (admission_ != nullptr) admission_->MarkRejected(n, keys, slots, moving_keys);
  internal::TierSwap::Demand demand;  // keys needing a device slot: from host/SSD, or new
  int64_t newly_pinned = 0;           // device hits no open step pins yet
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) {
      // A repeated device key (allowed) counts once.
      if (states_->CountOnce(slots[i])) ++newly_pinned;
    } else if (slots[i] != kRejected) {
      moving_keys[demand.moving++] = keys[i];
      if (IsOnSsd(slots[i])) {
        ++demand.from_ssd;
      } else if (slots[i] != KeySlotMap::kNoSlot) {
        ++demand.from_host;
      }
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) states_->ClearCount(slots[i]);
  }
  // A repeated key off the device would get two slots; a repeated device hit
  // is harmless, so the common all-hits case skips the extra pass.
  if (demand.moving > 0 &&
      DedupKeys<int64_t>(demand.moving, moving_keys, nullptr, nullptr, nullptr) != demand.moving) {
    return Status::InvalidArgument("lookup of table '" + name() +
                                   "': keys must be unique within a call (run DedupKeys first)");
  }
  // Count needs before mutating anything, then do all SSD I/O: a failure
  // leaves the table exactly as it was.
  internal::TierSwap::Room room;
  room.device_capacity = slots_.capacity();
  room.device_used = slots_.used();
  room.pinned = states_->pinned_slots() + newly_pinned;
  room.host_size = host_->size();
  room.host_capacity = host_->capacity();
  room.has_ssd = ssd_ != nullptr;
  room.ssd_size = ssd_ != nullptr ? ssd_->size() : 0;
  room.ssd_capacity = options_.ssd_vocabulary_size;
  ASC_RETURN_IF_ERROR(swap_->Plan(name(), demand, room));
  ASC_RETURN_IF_ERROR(swap_->Stage(name(), n, keys, slots, host_.get(), ssd_.get()));
  ApplyPlan(st, n, keys, slots, needs_init);
  const Status s = swap_->Transfer(rows, host_.get(), &scratch_rows_);
  if (!s.ok()) {
    // Check passed under this lock, so only storage replaced under the table
    // (variables re-initialised during the step) gets here.
    return Status::Internal("table '" + name() + "': its device rows changed during a lookup (" +
                            s.message() + "); re-initialise the table");
  }
  return Status::OK();
}

void Table::ApplyPlan(StepState* st, int64_t n, const int64_t* keys, int64_t* slots,
                      bool* needs_init) {
  const uint64_t time = st->time;
  swap_->BeginMoves(row_width_);
  // Demoted rows are on SSD already (TierSwap::Stage wrote them): free their
  // host rows before loads and victims touch the host tier.
  const std::vector<int64_t>& demoted_rows = swap_->demoted_rows();
  if (!demoted_rows.empty()) {
    const std::vector<int64_t>& demoted_keys = swap_->demoted_keys();
    const std::vector<int64_t> on_ssd(demoted_keys.size(), kOnSsd);
    map_.InsertOrAssignBatch(static_cast<int64_t>(demoted_keys.size()), demoted_keys.data(),
                             on_ssd.data());
    for (int64_t row : demoted_rows) host_->Release(row);
    stats_.demotions += static_cast<int64_t>(demoted_rows.size());
    swap_->ClearDemoted();
  }
  // Pin this call's hits first, so no key of the call can pick one as victim.
  st->pinned.reserve(st->pinned.size() + static_cast<size_t>(n));
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (IsDeviceSlot(slots[i])) {
      device_->CountUse(slots[i]);
      if (device_->Use(slots[i], time)) ++stats_.hot_hits;
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
      // Read (and erased from SSD) by TierSwap::Stage, in call order.
      swap_->AddLoadRow(swap_->ssd_row(ssd_loads));
      ++ssd_loads;
      ++loads;
    } else if (location != KeySlotMap::kNoSlot) {
      // Copy out and free the host row first: a victim below may reuse it.
      const int64_t row = HostRowOf(location);
      swap_->AddLoadRow(host_->Row(row));
      freq = internal::BumpCount(host_->freq(row));
      host_->Release(row);
      ++loads;
    }
    int64_t slot;
    if (slots_.available() > 0) {
      slot = slots_.Allocate();
    } else {
      // Exists: the plan counted enough unpinned slots.
      slot = device_->Victim(*states_, time);
      const int64_t victim_key = device_->key(slot);
      const int64_t row = host_->Allocate(victim_key, device_->freq(slot));
      swap_->AddEviction(slot, row);
      update_keys[updates] = victim_key;
      update_locations[updates++] = EncodeHostRow(row);
      ++evictions;
    }
    const bool is_new = location == KeySlotMap::kNoSlot;
    if (!is_new) swap_->AddLoadSlot(slot);
    needs_init[i] = is_new;
    if (is_new) {
      states_->AssignNewKey(slot);
      st->inserted.emplace_back(slot, keys[i]);
    } else {
      states_->AssignMovedKey(slot);
    }
    device_->Hold(slot, keys[i], freq);
    if (device_->Use(slot, time)) ++stats_.hot_hits;
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
    if (slot < 0 || slot >= slots_.capacity() || !states_->Pinned(slot)) {
      return Status::FailedPrecondition("fill of table '" + name() + "': slot " +
                                        std::to_string(slot) + " is not in use by step " +
                                        std::to_string(step));
    }
    if (!states_->Uninit(slot)) continue;  // filled already
    fill_slots_.push_back(slot);
    scratch_rows_.insert(scratch_rows_.end(), embedding + i * dim, embedding + (i + 1) * dim);
  }
  // Only the step's own slots: another step's may be reassigned once it ends.
  // Slots it inserted are its own (marked, no allocation); an unwritten slot
  // it found (another step's new key) must be among its pins: a rare case
  // worth a scan.
  if (!fill_slots_.empty()) {
    for (const auto& entry : st->inserted) states_->Mark(entry.first);
    int64_t stranger = -1;
    for (int64_t slot : fill_slots_) {
      if (states_->Marked(slot)) continue;
      const bool pinned = std::any_of(st->pinned.begin(), st->pinned.end(),
                                      [slot](const auto& pin) { return pin.first == slot; });
      if (!pinned) {
        stranger = slot;
        break;
      }
    }
    for (const auto& entry : st->inserted) states_->ClearCount(entry.first);
    if (stranger >= 0) {
      return Status::FailedPrecondition("fill of table '" + name() + "': slot " +
                                        std::to_string(stranger) + " is not in use by step " +
                                        std::to_string(step));
    }
  }
  ASC_RETURN_IF_ERROR(rows->Initialize(static_cast<int64_t>(fill_slots_.size()),
                                       fill_slots_.data(), scratch_rows_.data()));
  for (int64_t slot : fill_slots_) states_->MarkWritten(slot);
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
    } else if (states_->Uninit(location)) {
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
  // One batched read; the keys stay where they are.
  if (!ssd_keys.empty()) ASC_RETURN_IF_ERROR(ReadSsdRows(ssd_keys, ssd_pos, dim, out, "read"));
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
                       : states_->Uninit(l)     ? kTierAbsent
                                                : kTierDevice;
    }
  }
}

template <typename K>
int64_t Table::Erase(int64_t n, const K* keys) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (n <= 0) return 0;
  std::vector<int64_t> wide(keys, keys + n);
  if (admission_ != nullptr) admission_->records().Forget(n, wide.data());
  NoteRemoved(n, wide.data());
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
      host_->Release(HostRowOf(location));
    } else if (IsOnSsd(location)) {
      ssd_keys.push_back(keys[i]);
    } else if (states_->Pinned(location)) {
      // An open step still reads or updates this row: free it when it ends.
      states_->MarkErased(location);
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
    if (IsDeviceSlot(location) && states_->Uninit(location)) return;
    keys->push_back(key);
    slots->push_back(IsOffDevice(location) ? KeySlotMap::kNoSlot : location);
  });
}

// ---- checkpoints ----------------------------------------------------------------------

namespace {

// Orders entries by access count, highest first, and by `rank(entry)` (a
// row index, [0, range)) within equal counts, in O(entries + range + counts
// log counts): rows then come out in storage order, so gathering them reads
// memory sequentially. Sorting 10M keys by comparison instead took longer
// than writing them (BENCHMARKS.md section 7).
template <typename Entry, typename Rank>
void OrderByCountThenRow(std::vector<Entry>* entries, Rank rank) {
  const size_t n = entries->size();
  if (n < 2) return;
  int64_t range = 0;
  for (const Entry& e : *entries) range = std::max(range, rank(e) + 1);
  // By row: a placement through an index of rows (rows are unique).
  std::vector<uint32_t> at(static_cast<size_t>(range), UINT32_MAX);
  for (size_t i = 0; i < n; ++i) at[static_cast<size_t>(rank((*entries)[i]))] = static_cast<uint32_t>(i);
  std::vector<Entry> by_row;
  by_row.reserve(n);
  for (uint32_t i : at) {
    if (i != UINT32_MAX) by_row.push_back((*entries)[i]);
  }
  // Then a stable counting sort by count, highest first.
  std::unordered_map<uint32_t, size_t> start;
  for (const Entry& e : by_row) ++start[e.freq];
  std::vector<uint32_t> counts;
  counts.reserve(start.size());
  for (const auto& kv : start) counts.push_back(kv.first);
  std::sort(counts.begin(), counts.end(), std::greater<uint32_t>());
  size_t offset = 0;
  for (uint32_t c : counts) {
    const size_t size = start[c];
    start[c] = offset;
    offset += size;
  }
  for (const Entry& e : by_row) (*entries)[start[e.freq]++] = e;
}

}  // namespace

std::vector<Table::ExportEntry> Table::ExportOrder(int64_t n, const int64_t* keys) const {
  // Hottest first: device keys, then host keys, each by access count (then
  // by row), then SSD keys (by key).
  std::vector<ExportEntry> device, host, ssd;
  const bool ddr = options_.ddr_mode();
  auto add = [&](int64_t key, int64_t location) {
    if (location == KeySlotMap::kNoSlot) return;
    if (IsHostRow(location)) {
      host.push_back({key, location, host_->freq(HostRowOf(location))});
    } else if (IsOnSsd(location)) {
      ssd.push_back({key, location, 1});
    } else if (!states_->Uninit(location) && !states_->Provisional(location)) {
      // (Not written yet, or only an uncommitted step's: not part of the state.)
      device.push_back({key, location, ddr ? device_->freq(location) : 1u});
    }
  };
  if (keys == nullptr) {
    device.reserve(static_cast<size_t>(slots_.used()));
    host.reserve(static_cast<size_t>(host_->size()));
    map_.ForEach(add);
  } else {
    std::vector<int64_t> locations(static_cast<size_t>(n));
    map_.FindBatch(n, keys, locations.data());
    for (int64_t i = 0; i < n; ++i) add(keys[i], locations[i]);
  }
  OrderByCountThenRow(&device, [](const ExportEntry& e) { return e.location; });
  OrderByCountThenRow(&host, [](const ExportEntry& e) { return HostRowOf(e.location); });
  std::sort(ssd.begin(), ssd.end(),
            [](const ExportEntry& a, const ExportEntry& b) { return a.key < b.key; });
  device.insert(device.end(), host.begin(), host.end());
  device.insert(device.end(), ssd.begin(), ssd.end());
  return device;
}

Status Table::ExportRows(const DeviceRows& rows, int64_t n, const ExportEntry* entries,
                         float* out) const {
  const int64_t width = rows.width();
  std::vector<int64_t> device_pos, device_slots, ssd_pos, ssd_keys;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t location = entries[i].location;
    if (IsDeviceSlot(location)) {
      device_pos.push_back(i);
      device_slots.push_back(location);
      continue;
    }
    if (row_width_ != width) {
      return Status::FailedPrecondition(
          "export of table '" + name() + "': rows off the device have " +
          std::to_string(row_width_) + " floats, the device rows " + std::to_string(width) +
          " (optimizer state added after rows moved off the device)");
    }
    if (IsHostRow(location)) {
      std::copy_n(host_->Row(HostRowOf(location)), width, out + i * width);
    } else {
      ssd_pos.push_back(i);
      ssd_keys.push_back(entries[i].key);
    }
  }
  if (!device_slots.empty()) {
    std::vector<float> gathered(device_slots.size() * static_cast<size_t>(width));
    ASC_RETURN_IF_ERROR(rows.Gather(static_cast<int64_t>(device_slots.size()),
                                    device_slots.data(), gathered.data()));
    for (size_t j = 0; j < device_pos.size(); ++j) {
      std::copy_n(gathered.data() + j * width, width, out + device_pos[j] * width);
    }
  }
  if (!ssd_keys.empty()) ASC_RETURN_IF_ERROR(ReadSsdRows(ssd_keys, ssd_pos, width, out, "export"));
  return Status::OK();
}

Status Table::ReadSsdRows(const std::vector<int64_t>& keys, const std::vector<int64_t>& pos,
                          int64_t floats, float* out, const char* what) const {
  const int64_t m = static_cast<int64_t>(keys.size());
  std::vector<float> buffer(static_cast<size_t>(m * row_width_));
  std::unique_ptr<bool[]> held(new bool[static_cast<size_t>(m)]);
  const Status s = ssd_->Get(m, keys.data(), buffer.data(), held.get());
  const std::string where = std::string(what) + " of table '" + name() + "': ";
  if (!s.ok()) return Status(s.code(), where + s.message());
  for (int64_t j = 0; j < m; ++j) {
    if (!held[j]) {
      return Status::Internal(where + "key " + std::to_string(keys[j]) +
                              " is mapped to the SSD tier but the SSD tier does not hold it");
    }
    std::copy_n(buffer.data() + j * row_width_, floats, out + pos[j] * floats);
  }
  return Status::OK();
}

Status Table::Import(int64_t n, const int64_t* keys, const float* rows_in, const uint32_t* freq,
                     DeviceRows* rows) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  const std::string what = "import into table '" + name() + "': ";
  if (!steps_.empty()) {
    return Status::FailedPrecondition(what + std::to_string(steps_.size()) +
                                      " steps are open; restore before training");
  }
  if (n < 0) return Status::InvalidArgument(what + "key count must be >= 0");
  if (n == 0) return Status::OK();
  ASC_RETURN_IF_ERROR(CheckKeyRange(n, keys));
  ASC_RETURN_IF_ERROR(PrepareRows(rows));
  std::vector<int64_t> found(static_cast<size_t>(n));
  map_.FindBatch(n, keys, found.data());
  for (int64_t i = 0; i < n; ++i) {
    if (found[i] != KeySlotMap::kNoSlot) {
      return Status::InvalidArgument(what + "key " + std::to_string(keys[i]) + " is already held");
    }
  }
  std::vector<int64_t> unique(keys, keys + n);
  if (DedupKeys<int64_t>(n, unique.data(), nullptr, nullptr, nullptr) != n) {
    return Status::InvalidArgument(what + "a key is repeated");
  }
  const int64_t width = row_width_;
  // How many keys go to each tier.
  int64_t to_device = std::min(n, slots_.available());
  if (!options_.ddr_mode() && to_device < n) {
    if (!options_.dynamic_expansion) {
      return Status::ResourceExhausted(
          what + std::to_string(map_.size() + n) + " keys do not fit device_vocabulary_size=" +
          std::to_string(slots_.capacity()) +
          " (HBM mode, no dynamic expansion): enlarge it or add a host tier");
    }
    const int64_t grown = GrownCapacity(slots_.capacity(), slots_.used() + n, options_.growth_factor);
    if (grown == 0) return Status::ResourceExhausted(what + "the device tier cannot grow that far");
    ASC_RETURN_IF_ERROR(GrowDevice(grown, rows));
    to_device = n;
  }
  const int64_t to_host = std::min(n - to_device, host_->capacity() - host_->size());
  const int64_t to_ssd = n - to_device - to_host;
  const int64_t ssd_room = ssd_ != nullptr ? ssd_->capacity() - ssd_->size() : 0;
  if (to_ssd > ssd_room) {
    return Status::ResourceExhausted(
        what + std::to_string(map_.size() + n) + " keys do not fit the tiers: device " +
        std::to_string(slots_.capacity()) + " + host_vocabulary_size " +
        std::to_string(host_->capacity()) + " + ssd_vocabulary_size " +
        std::to_string(ssd_ != nullptr ? ssd_->capacity() : 0));
  }
  std::vector<int64_t> locations(static_cast<size_t>(n));
  for (int64_t i = 0; i < to_device; ++i) locations[i] = slots_.Allocate();
  Status s = rows->Scatter(to_device, locations.data(), rows_in);
  if (s.ok() && to_ssd > 0) {
    const int64_t first = to_device + to_host;
    s = ssd_->Put(to_ssd, keys + first, rows_in + first * width);
    if (!s.ok()) s = Status(s.code(), what + s.message());
  }
  if (!s.ok()) {
    for (int64_t i = 0; i < to_device; ++i) slots_.Release(locations[i]);
    return s;
  }
  for (int64_t i = 0; i < to_device; ++i) {
    const int64_t slot = locations[i];
    states_->AssignMovedKey(slot);
    if (options_.ddr_mode()) {
      device_->Hold(slot, keys[i], freq != nullptr ? freq[i] : 1);
      device_->Use(slot, clock_);
    }
  }
  for (int64_t i = to_device; i < to_device + to_host; ++i) {
    const int64_t row = host_->Allocate(keys[i], freq != nullptr ? freq[i] : 1);
    std::copy_n(rows_in + i * width, width, host_->Row(row));
    locations[i] = EncodeHostRow(row);
  }
  for (int64_t i = to_device + to_host; i < n; ++i) locations[i] = kOnSsd;
  map_.InsertBatch(n, keys, locations.data());
  return Status::OK();
}

void Table::NoteRemoved(int64_t n, const int64_t* keys) {
  if (!tracking_) return;
  for (int64_t i = 0; i < n; ++i) {
    removed_.insert(keys[i]);
    touched_.erase(keys[i]);
  }
}

Table::Changes Table::TakeChanges() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  tracking_ = true;
  Changes c;
  c.touched.assign(touched_.begin(), touched_.end());
  c.removed.assign(removed_.begin(), removed_.end());
  std::sort(c.touched.begin(), c.touched.end());
  std::sort(c.removed.begin(), c.removed.end());
  touched_.clear();
  removed_.clear();
  return c;
}

void Table::ReturnChanges(const Changes& changes) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  // Later changes win: a key touched since is not removed, and vice versa.
  for (int64_t key : changes.removed) {
    if (touched_.count(key) == 0) removed_.insert(key);
  }
  for (int64_t key : changes.touched) {
    if (removed_.count(key) == 0) touched_.insert(key);
  }
}

Status Table::ExportAdmissionOf(int64_t n, const int64_t* keys, std::vector<int64_t>* out_keys,
                                std::vector<int64_t>* counts,
                                std::vector<int64_t>* last_seen) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  ASC_RETURN_IF_ERROR(CheckAdmission());
  admission_->records().ExportOf(n, keys, out_keys, counts, last_seen);
  return Status::OK();
}

Status Table::MergeAdmission(int64_t n, const int64_t* keys, const int64_t* counts,
                             const int64_t* last_seen) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  ASC_RETURN_IF_ERROR(CheckAdmission());
  return admission_->records().Merge(n, keys, counts, last_seen);
}

Table::Clocks Table::clocks() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  Clocks c;
  c.steps = static_cast<int64_t>(clock_);
  if (admission_ != nullptr) {
    c.admission_time = admission_->records().clock();
    c.admission_steps = admission_->own_clock();
  }
  return c;
}

Status Table::SetClocks(const Clocks& clocks) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!steps_.empty()) {
    return Status::FailedPrecondition("table '" + name() + "': clocks cannot be set while " +
                                      std::to_string(steps_.size()) + " steps are open");
  }
  if (clocks.steps < 0 || clocks.admission_time < 0 || clocks.admission_steps < 0) {
    return Status::InvalidArgument("table '" + name() + "': clocks must be >= 0");
  }
  clock_ = static_cast<uint64_t>(clocks.steps);
  if (admission_ != nullptr) admission_->SetClocks(clocks.admission_time, clocks.admission_steps);
  return Status::OK();
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
  return map_.memory_bytes() + states_->memory_bytes() + device_->memory_bytes() +
         host_->memory_bytes() + swap_->memory_bytes() +
         (admission_ != nullptr ? admission_->memory_bytes() : 0) +
         (ssd_ != nullptr ? ssd_->memory_bytes() : 0) +
         static_cast<int64_t>(scratch_keys_.capacity() + wide_keys_.capacity() +
                              fill_slots_.capacity()) * kI64 +
         static_cast<int64_t>(scratch_rows_.capacity() * sizeof(float));
}

TableStats Table::stats() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  TableStats s = stats_;
  s.device_keys = slots_.used();
  s.host_keys = host_->size();
  if (admission_ != nullptr) s.admission_keys = admission_->records().size();
  s.hot_keys = device_->hot_size();
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
