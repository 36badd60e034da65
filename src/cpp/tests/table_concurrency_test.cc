// Concurrent steps on one HBM table with dynamic expansion: writers run whole
// steps (BeginStep, Lookup, Fill, EndStep) on overlapping keys while readers
// Read, Locate and Snapshot. The DDR-mode multithreaded test with row updates
// is in table_steps_test.cc.
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
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::FakeDevice;
using testing_util::InitialRow;

struct Observation {
  int64_t key;
  int64_t slot;
};

// Afterwards the table must look as if the steps ran one at a time: each key
// inserted and its row written exactly once, one slot per key, no slot
// shared, and nothing a writer or reader ever saw contradicted by the final
// state. A reader never sees a key whose row is not written.
TEST(TableConcurrencyTest, OverlappingWritersWithReaders) {
  constexpr int kWriters = 3;
  constexpr int kReaders = 2;
  constexpr int64_t kKeySpace = 20000;
  constexpr int64_t kPerWriter = kKeySpace / 2;
  constexpr int64_t kBatch = 97;
  constexpr int64_t kDim = 4;

  TableOptions o;
  o.name = "concurrent";
  o.dim = kDim;
  o.device_vocabulary_size = 64;  // forces expansions while readers are active
  o.dynamic_expansion = true;
  std::unique_ptr<Table> table;
  ASSERT_TRUE(Table::Create(o, &table).ok());
  FakeDevice dev(64, kDim, {0.5f});

  std::vector<std::vector<Observation>> written(kWriters);
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
      std::vector<int64_t> slots(kBatch), fill_slots;
      std::vector<float> fill_rows;
      bool needs_init[kBatch];
      for (int64_t base = 0; base < kPerWriter; base += kBatch) {
        const int64_t n = std::min(kBatch, kPerWriter - base);
        const Table::StepId step = table->BeginStep();
        if (!table->Lookup<int64_t>(step, n, keys.data() + base, nullptr, &dev, slots.data(),
                                    needs_init).ok()) {
          ++errors[w];
          table->EndStep(step, false);
          continue;
        }
        const int64_t capacity = table->capacity();
        fill_slots.clear();
        fill_rows.clear();
        for (int64_t i = 0; i < n; ++i) {
          if (slots[i] < 0 || slots[i] >= capacity) ++errors[w];
          written[w].push_back({keys[base + i], slots[i]});
          if (needs_init[i]) {
            fill_slots.push_back(slots[i]);
            const std::vector<float> row = InitialRow(keys[base + i], kDim);
            fill_rows.insert(fill_rows.end(), row.begin(), row.end());
          }
        }
        if (!table->Fill(step, static_cast<int64_t>(fill_slots.size()), fill_slots.data(),
                         fill_rows.data(), &dev).ok()) {
          ++errors[w];
        }
        table->EndStep(step, true);
      }
      --writers_left;
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      std::vector<int64_t> keys(256), snap_keys, snap_slots;
      std::vector<float> rows(256 * kDim);
      std::unique_ptr<bool[]> found(new bool[256]);
      std::vector<int8_t> tier(256);
      for (int iter = 0; writers_left.load() > 0; ++iter) {
        for (int64_t& k : keys) k = static_cast<int64_t>(rng() % kKeySpace);
        if (!table->Read<int64_t>(256, keys.data(), dev, rows.data(), found.get()).ok()) {
          ++errors[kWriters + r];
        }
        for (int i = 0; i < 256; ++i) {
          if (!found[i]) continue;
          const std::vector<float> expected = InitialRow(keys[i], kDim);
          if (!std::equal(expected.begin(), expected.end(), rows.begin() + i * kDim)) {
            ++errors[kWriters + r];  // a row read before (or without) its Fill
          }
        }
        table->Locate(256, keys.data(), tier.data());
        for (int i = 0; i < 256; ++i) {
          if (tier[i] != kTierAbsent && tier[i] != kTierDevice) ++errors[kWriters + r];
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
  EXPECT_EQ(dev.bad_slots(), 0);

  std::vector<int64_t> keys, slots;
  table->Snapshot(&keys, &slots);
  const int64_t distinct = kKeySpace / 4 * (kWriters - 1) + kPerWriter;
  ASSERT_EQ(static_cast<int64_t>(keys.size()), distinct);
  EXPECT_EQ(table->size(), distinct);
  EXPECT_GE(dev.rows(), table->capacity());
  std::unordered_map<int64_t, int64_t> final_slot;
  std::unordered_set<int64_t> used_slots;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(final_slot.emplace(keys[i], slots[i]).second) << "key twice: " << keys[i];
    ASSERT_TRUE(used_slots.insert(slots[i]).second) << "slot twice: " << slots[i];
    ASSERT_LT(slots[i], table->capacity());
    ASSERT_EQ(dev.Row(slots[i]), dev.NewRow(keys[i])) << keys[i];
  }

  // Each key inserted once, each row written once (by whichever step filled
  // it first).
  const TableStats s = table->stats();
  EXPECT_EQ(s.new_keys, distinct);
  EXPECT_EQ(s.hits + s.misses, kWriters * kPerWriter);
  EXPECT_EQ(s.open_steps, 0);
  const auto init_counts = dev.init_counts();
  EXPECT_EQ(static_cast<int64_t>(init_counts.size()), distinct);
  for (const auto& [slot, count] : init_counts) ASSERT_EQ(count, 1) << "slot " << slot;

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
