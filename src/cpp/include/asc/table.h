// Table: the key -> device-slot index of one embedding table.
//
// libasc owns keys; TensorFlow owns the device rows (a [capacity, dim]
// variable per table, plus optimizer slots). A Table maps each admitted key to
// the row index ("slot") it occupies in those variables and hands out slots
// for new keys. All calls are batched; their cost grows with the batch, never
// with the table size.
//
// Thread-safety: every method may be called concurrently from any thread.
// Readers (Find, Snapshot, stats) share a lock; writers (FindOrInsert, Erase)
// take it exclusively, so a batch is applied atomically with respect to
// other calls.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "asc/key_map.h"
#include "asc/slot_allocator.h"
#include "asc/status.h"

namespace asc {

enum class KeyType { kInt32, kInt64 };

const char* KeyTypeName(KeyType t);

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

  static constexpr int64_t kMaxDim = 8192;
  static constexpr int64_t kMaxCapacity = int64_t{1} << 40;

  // OK, or InvalidArgument naming the offending field and its allowed range.
  Status Validate() const;
};

class Table {
 public:
  // Validates options; on success *out holds an empty table.
  static Status Create(const TableOptions& options, std::unique_ptr<Table>* out);

  const TableOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }

  // Maps unique keys[0..n) to slots, inserting absent keys.
  //   slots  (n): slot of each key.
  //   is_new (n): true where the key was inserted by this call (its row must be
  //               initialised by the caller before it is read).
  //   *capacity : device capacity after the call (grown if expansion ran).
  // All or nothing: when the new keys do not fit and expansion is off, returns
  // ResourceExhausted naming the table and sizes and changes nothing. Keys must
  // be unique within the call (use DedupKeys first). An int32 table returns
  // InvalidArgument for a key outside int32 range, also changing nothing.
  template <typename K>
  Status FindOrInsert(int64_t n, const K* keys, int64_t* slots, bool* is_new,
                      int64_t* capacity);

  // slots[i] = slot of keys[i] or KeySlotMap::kNoSlot; never inserts.
  template <typename K>
  void Find(int64_t n, const K* keys, int64_t* slots) const;

  // Removes keys and frees their slots for reuse. Absent keys are ignored.
  // Returns how many keys were removed.
  template <typename K>
  int64_t Erase(int64_t n, const K* keys);

  // Copies every (key, slot) pair, in unspecified order.
  void Snapshot(std::vector<int64_t>* keys, std::vector<int64_t>* slots) const;

  int64_t size() const;      // keys held
  int64_t capacity() const;  // device rows
  int64_t memory_bytes() const;

 private:
  explicit Table(const TableOptions& options);
  template <typename K>
  Status CheckKeyRange(int64_t n, const K* keys) const;

  const TableOptions options_;
  mutable std::shared_mutex mu_;
  KeySlotMap map_;
  SlotAllocator slots_;
  std::vector<int64_t> scratch_keys_;  // widened keys, guarded by mu_ (exclusive)
};

}  // namespace asc
