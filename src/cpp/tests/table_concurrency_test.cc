#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "asc/table.h"

namespace asc {
namespace {

struct Observation {
  int64_t key;
  int64_t slot;
};

// Writers insert overlapping key ranges while readers Find and Snapshot.
// Afterwards the table must look as if the batches ran one at a time: each
// key inserted exactly once, one slot per key, no slot shared, and nothing a
// writer or reader ever saw contradicted by the final state.
TEST(TableConcurrencyTest, OverlappingWritersWithReaders) {
  constexpr int kWriters = 3;
  constexpr int kReaders = 2;
  constexpr int64_t kKeySpace = 20000;
  constexpr int64_t kPerWriter = kKeySpace / 2;
  constexpr int64_t kBatch = 97;

  TableOptions o;
  o.name = "concurrent";
  o.dim = 4;
  o.device_capacity = 64;  // forces expansions while readers are active
  o.dynamic_expansion = true;
  std::unique_ptr<Table> table;
  ASSERT_TRUE(Table::Create(o, &table).ok());

  std::vector<std::vector<Observation>> written(kWriters);
  std::vector<std::vector<int64_t>> inserted_by(kWriters);  // keys this writer saw as new
  std::vector<std::vector<Observation>> read(kReaders);
  std::vector<int> errors(kWriters + kReaders, 0);
  std::atomic<int> writers_left{kWriters};

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      // Writer w covers [w*K/4, w*K/4 + K/2): each key is wanted by 1-2 writers.
      std::vector<int64_t> keys(kPerWriter);
      std::iota(keys.begin(), keys.end(), w * kKeySpace / 4);
      std::shuffle(keys.begin(), keys.end(), std::mt19937_64(w));
      std::vector<int64_t> slots(kBatch);
      bool is_new[kBatch];
      for (int64_t base = 0; base < kPerWriter; base += kBatch) {
        const int64_t n = std::min(kBatch, kPerWriter - base);
        int64_t capacity = 0;
        if (!table->FindOrInsert<int64_t>(n, keys.data() + base, slots.data(), is_new, &capacity).ok()) {
          ++errors[w];
          continue;
        }
        for (int64_t i = 0; i < n; ++i) {
          if (slots[i] < 0 || slots[i] >= capacity) ++errors[w];
          written[w].push_back({keys[base + i], slots[i]});
          if (is_new[i]) inserted_by[w].push_back(keys[base + i]);
        }
      }
      --writers_left;
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      std::vector<int64_t> keys(256), slots(256), snap_keys, snap_slots;
      for (int iter = 0; writers_left.load() > 0; ++iter) {
        for (int64_t& k : keys) k = static_cast<int64_t>(rng() % kKeySpace);
        table->Find<int64_t>(256, keys.data(), slots.data());
        for (int i = 0; i < 256; ++i) {
          if (slots[i] != KeySlotMap::kNoSlot) read[r].push_back({keys[i], slots[i]});
        }
        if (iter % 16 == 0) {
          table->Snapshot(&snap_keys, &snap_slots);
          const int64_t capacity = table->capacity();  // only grows, so bounds the snapshot
          std::unordered_set<int64_t> seen_keys, seen_slots;
          for (size_t i = 0; i < snap_keys.size(); ++i) {
            if (!seen_keys.insert(snap_keys[i]).second) ++errors[kWriters + r];
            if (!seen_slots.insert(snap_slots[i]).second) ++errors[kWriters + r];
            if (snap_slots[i] < 0 || snap_slots[i] >= capacity) ++errors[kWriters + r];
            if (i % 64 == 0) read[r].push_back({snap_keys[i], snap_slots[i]});
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, std::vector<int>(kWriters + kReaders, 0));

  std::vector<int64_t> keys, slots;
  table->Snapshot(&keys, &slots);
  const int64_t distinct = kKeySpace / 4 * (kWriters - 1) + kPerWriter;
  ASSERT_EQ(static_cast<int64_t>(keys.size()), distinct);
  EXPECT_EQ(table->size(), distinct);
  std::unordered_map<int64_t, int64_t> final_slot;
  std::unordered_set<int64_t> used_slots;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(final_slot.emplace(keys[i], slots[i]).second) << "key twice: " << keys[i];
    ASSERT_TRUE(used_slots.insert(slots[i]).second) << "slot twice: " << slots[i];
    ASSERT_LT(slots[i], table->capacity());
  }

  std::unordered_map<int64_t, int> times_new;
  for (const auto& list : inserted_by) {
    for (int64_t k : list) ++times_new[k];
  }
  EXPECT_EQ(static_cast<int64_t>(times_new.size()), distinct);
  for (const auto& [k, count] : times_new) ASSERT_EQ(count, 1) << "key " << k << " inserted twice";

  int64_t checked = 0;
  for (const auto* lists : {&written, &read}) {
    for (const auto& list : *lists) {
      for (const Observation& ob : list) {
        auto it = final_slot.find(ob.key);
        ASSERT_NE(it, final_slot.end()) << ob.key;
        ASSERT_EQ(it->second, ob.slot) << "slot of key " << ob.key << " changed";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, kWriters * kPerWriter);
}

}  // namespace
}  // namespace asc
