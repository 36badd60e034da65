#include "asc/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
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
  return Status::OK();
}

// The map is sized up front for the device tier's keys, so a table that fills
// its tier never pauses a step to rehash; the cap keeps an oversized
// device_vocabulary_size from reserving memory no key will use.
constexpr int64_t kMaxPresizedKeys = int64_t{1} << 24;

Table::Table(const TableOptions& options)
    : options_(options),
      map_(std::min(options.device_capacity, kMaxPresizedKeys)),
      slots_(options.device_capacity) {}

Status Table::Create(const TableOptions& options, std::unique_ptr<Table>* out) {
  ASC_RETURN_IF_ERROR(options.Validate());
  out->reset(new Table(options));
  return Status::OK();
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
    }
  }
  map_.InsertBatch(missing, missing_keys, missing_slots);
  *capacity = slots_.capacity();
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
}

template <typename K>
int64_t Table::Erase(int64_t n, const K* keys) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (n <= 0) return 0;
  scratch_keys_.resize(static_cast<size_t>(n));
  int64_t* const removed_slots = scratch_keys_.data();
  int64_t removed = 0;
  ForEachInt64Chunk(n, keys, [&](int64_t base, int64_t len, const int64_t* wide) {
    removed += map_.EraseBatch(len, wide, removed_slots + base);
  });
  for (int64_t i = 0; i < n; ++i) {
    if (removed_slots[i] != KeySlotMap::kNoSlot) slots_.Release(removed_slots[i]);
  }
  return removed;
}

void Table::Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  keys->clear();
  slots->clear();
  keys->reserve(static_cast<size_t>(map_.size()));
  slots->reserve(static_cast<size_t>(map_.size()));
  map_.ForEach([&](int64_t key, int64_t slot) {
    keys->push_back(key);
    slots->push_back(slot);
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
  return map_.memory_bytes() +
         static_cast<int64_t>(scratch_keys_.capacity() * sizeof(int64_t));
}

template Status Table::FindOrInsert<int32_t>(int64_t, const int32_t*, int64_t*, bool*, int64_t*);
template Status Table::FindOrInsert<int64_t>(int64_t, const int64_t*, int64_t*, bool*, int64_t*);
template void Table::Find<int32_t>(int64_t, const int32_t*, int64_t*) const;
template void Table::Find<int64_t>(int64_t, const int64_t*, int64_t*) const;
template int64_t Table::Erase<int32_t>(int64_t, const int32_t*);
template int64_t Table::Erase<int64_t>(int64_t, const int64_t*);

}  // namespace asc
