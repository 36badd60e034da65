// TableOptions::hot_capacity: frequently looked-up keys of a DDR-mode table
// are pinned in the device tier (never victims of LRU or LFU), the hot set
// follows the key distribution window by window, gives slots back when a step
// needs them, and is counted in TableStats. The randomized reference
// simulation with hot embedding on runs in table_tiering_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::Lookup;
using testing_util::MakeTable;
using testing_util::SameStats;
using testing_util::TierOf;

// A DDR table whose window never ends unless the test says so.
TableOptions Options(int64_t device, int64_t host, int64_t hot,
                     DevicePolicy policy = DevicePolicy::kLru, int64_t refresh = 1000000) {
  TableOptions o = testing_util::TieredOptions(device, host, /*dim=*/2, /*row_width=*/3);
  o.device_policy = policy;
  o.hot_capacity = hot;
  o.hot_refresh_steps = refresh;
  return o;
}

// Row contents do not matter here, only where keys go.
Lookup Plan(Table* t, const std::vector<int64_t>& keys, bool begin_step = true) {
  return testing_util::PlanAndCommit(t, keys, begin_step);
}

std::vector<int64_t> Range(int64_t begin, int64_t end) {
  std::vector<int64_t> keys;
  for (int64_t k = begin; k < end; ++k) keys.push_back(k);
  return keys;
}

TEST(HotEmbeddingTest, ValidateNamesTheFieldAndItsRange) {
  TableOptions o = Options(8, 16, /*hot=*/8);
  EXPECT_EQ(o.Validate().message(),
            "hot_capacity (hot_vocabulary_size) must be in [0, 7] (below device_capacity), got 8 "
            "(table 'emb')");
  o.hot_capacity = -1;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o.hot_capacity = 7;
  EXPECT_TRUE(o.Validate().ok());
  o.host_capacity = 0;
  EXPECT_EQ(o.Validate().message(),
            "hot_capacity (hot_vocabulary_size) > 0 needs a host tier (host_vocabulary_size > 0): "
            "without one every key stays on the device (table 'emb')");
  o.hot_capacity = 0;  // off: fine in HBM mode
  EXPECT_TRUE(o.Validate().ok());
  o = Options(8, 16, 4, DevicePolicy::kLru, /*refresh=*/0);
  EXPECT_EQ(o.Validate().message(), "hot_refresh_steps must be in [1, " +
                                        std::to_string(TableOptions::kMaxHotRefreshSteps) +
                                        "], got 0 (table 'emb')");
  std::unique_ptr<Table> t;
  EXPECT_EQ(Table::Create(o, &t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t, nullptr);
}

// The scan of DevicePolicyTest.SampledLfuKeepsHotKeysUnderAScan, under LRU:
// without hot embedding the frequent keys are all pushed out, with it none.
TEST(HotEmbeddingTest, HotKeysSurviveAScanThatEvictsThemUnderLru) {
  constexpr int64_t kDevice = 64;
  for (int64_t hot_capacity : {int64_t{0}, kDevice / 2}) {
    auto t = MakeTable(Options(kDevice, 4096, hot_capacity));
    const std::vector<int64_t> frequent = Range(0, kDevice / 2);
    ASSERT_TRUE(Plan(t.get(), Range(kDevice / 2, kDevice)).status.ok());
    for (int step = 0; step < 8; ++step) ASSERT_TRUE(Plan(t.get(), frequent).status.ok());
    EXPECT_EQ(t->stats().hot_keys, hot_capacity);
    for (int64_t k = 1000; k < 1200; ++k) ASSERT_TRUE(Plan(t.get(), {k}).status.ok());
    int64_t frequent_on_device = 0;
    for (int64_t k : frequent) frequent_on_device += TierOf(*t, k) == kTierDevice;
    EXPECT_EQ(frequent_on_device, hot_capacity);
    const TableStats s = t->stats();
    EXPECT_EQ(s.evictions, 200);
    EXPECT_EQ(s.hot_keys, hot_capacity);
    // Promoted on their second lookup, so hot for the 6 lookups after it.
    EXPECT_EQ(s.hot_hits, hot_capacity * 6);
  }
}

// Keys 1, 2 are hot with count 2; keys 3, 4 are looked up far more but find
// the hot set full. The new key 5 must evict 3 or 4, although LRU (1 is the
// least recently used) and LFU (1, 2 have the lowest counts) would pick 1 or 2.
TEST(HotEmbeddingTest, HotSlotsAreNeverVictimsUnderEitherPolicy) {
  for (DevicePolicy policy : {DevicePolicy::kLru, DevicePolicy::kLfu}) {
    for (int64_t hot_capacity : {int64_t{0}, int64_t{2}}) {
      auto t = MakeTable(Options(4, 16, hot_capacity, policy));
      ASSERT_TRUE(Plan(t.get(), {1, 2}).status.ok());
      ASSERT_TRUE(Plan(t.get(), {1, 2}).status.ok());
      EXPECT_EQ(t->stats().hot_keys, hot_capacity);
      for (int step = 0; step < 10; ++step) ASSERT_TRUE(Plan(t.get(), {3, 4}).status.ok());
      EXPECT_EQ(t->stats().hot_keys, hot_capacity);
      Lookup r = Plan(t.get(), {5});
      ASSERT_TRUE(r.status.ok()) << r.status.message();
      ASSERT_EQ(r.plan.evict_slots.size(), 1u);
      const bool hot_on_device = TierOf(*t, 1) == kTierDevice && TierOf(*t, 2) == kTierDevice;
      EXPECT_EQ(hot_on_device, hot_capacity > 0) << DevicePolicyName(policy);
      EXPECT_EQ(TierOf(*t, 5), kTierDevice);
    }
  }
}

TEST(HotEmbeddingTest, CountersOnASmallExample) {
  auto t = MakeTable(Options(/*device=*/4, /*host=*/16, /*hot=*/2));
  ASSERT_TRUE(Plan(t.get(), {1, 2, 3}).status.ok());  // 3 new
  ASSERT_TRUE(Plan(t.get(), {1, 2}).status.ok());     // 2 hits, 1 and 2 become hot
  EXPECT_EQ(t->stats().hot_keys, 2);
  EXPECT_EQ(t->stats().hot_hits, 0);
  ASSERT_TRUE(Plan(t.get(), {1, 2, 3}).status.ok());  // 2 hot hits; 3 qualifies, no room
  // 4 takes the free slot; 5 evicts 3, the only slot that is neither hot nor
  // used in this step.
  Lookup r = Plan(t.get(), {1, 4, 5});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(TierOf(*t, 3), kTierHost);
  TableStats expected;  // every other counter stays 0
  expected.device_keys = 4;
  expected.host_keys = 1;
  expected.hits = 6;
  expected.misses = 5;
  expected.new_keys = 5;
  expected.evictions = 1;
  expected.hot_keys = 2;
  expected.hot_hits = 3;
  const auto got = t->stats().Fields();
  for (int f = 0; f < TableStats::kNumFields; ++f) {
    EXPECT_EQ(got[f].second, expected.Fields()[f].second) << got[f].first;
  }
  EXPECT_STREQ(got[TableStats::kNumFields - 2].first, "hot_keys");
  EXPECT_STREQ(got[TableStats::kNumFields - 1].first, "hot_hits");
}

// A step needing more slots than the non-hot part of the device has takes the
// least recently used hot slots the step does not use; one needing more than
// the whole device still fails and changes nothing.
TEST(HotEmbeddingTest, AStepThatNeedsHotSlotsTakesThemBack) {
  auto t = MakeTable(Options(/*device=*/8, /*host=*/100, /*hot=*/6));
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);
  // Keys 1, 2 used (one lookup now, one later in the step); 6 new keys need 2
  // free slots and 4 of the hot slots of 3..6.
  ASSERT_TRUE(Plan(t.get(), {2}).status.ok());
  Lookup r = Plan(t.get(), {1, 100, 101, 102, 103, 104, 105}, /*begin_step=*/false);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.plan.evict_slots.size(), 4u);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, 2), kTierDevice);
  for (int64_t k = 3; k <= 6; ++k) EXPECT_EQ(TierOf(*t, k), kTierHost) << k;
  EXPECT_EQ(t->stats().hot_keys, 2);

  // 8 keys of one step: every slot, hot ones included.
  ASSERT_TRUE(Plan(t.get(), Range(200, 208)).status.ok());
  EXPECT_EQ(t->stats().hot_keys, 0);
  EXPECT_EQ(t->stats().device_keys, 8);
  // Hot again, then a step of 9 keys: more than the device, all or nothing.
  ASSERT_TRUE(Plan(t.get(), Range(200, 206)).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);
  const TableStats before = t->stats();
  Lookup full = Plan(t.get(), Range(300, 309));
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted) << full.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  for (int64_t k = 200; k < 208; ++k) EXPECT_EQ(TierOf(*t, k), kTierDevice) << k;
}

TEST(HotEmbeddingTest, EraseUnpinsTheKey) {
  auto t = MakeTable(Options(/*device=*/4, /*host=*/64, /*hot=*/1));
  ASSERT_TRUE(Plan(t.get(), {7, 8}).status.ok());
  ASSERT_TRUE(Plan(t.get(), {7, 8}).status.ok());  // 7 hot (first to qualify)
  ASSERT_EQ(t->stats().hot_keys, 1);
  const int64_t key = 7;
  ASSERT_EQ(t->Erase<int64_t>(1, &key), 1);
  EXPECT_EQ(t->stats().hot_keys, 0);
  EXPECT_EQ(TierOf(*t, 7), kTierAbsent);
  // Room again: 8 becomes hot on its next lookup; 7 comes back as a new key.
  ASSERT_TRUE(Plan(t.get(), {8}).status.ok());
  EXPECT_EQ(t->stats().hot_keys, 1);
  Lookup back = Plan(t.get(), {7});
  ASSERT_TRUE(back.status.ok());
  EXPECT_TRUE(back.is_new[0]);
  EXPECT_EQ(t->stats().hot_keys, 1);
  // The whole device fills and cycles; the hot key 8 stays.
  for (int64_t k = 20; k < 40; k += 2) {
    Lookup r = Plan(t.get(), {k, k + 1});
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  }
  EXPECT_EQ(TierOf(*t, 8), kTierDevice);
  EXPECT_EQ(TierOf(*t, 7), kTierHost);
  EXPECT_EQ(t->stats().device_keys, 4);
}

// Refreshes every 10 steps: the threshold becomes the hot_capacity-th largest
// count on the device, hot keys below it or idle for a whole window leave the
// set (not the device), and qualifying keys join on their next lookup.
TEST(HotEmbeddingTest, RefreshFollowsTheDistribution) {
  auto t = MakeTable(Options(/*device=*/16, /*host=*/100, /*hot=*/2, DevicePolicy::kLru,
                             /*refresh=*/10));
  auto hot_keys = [&] { return t->stats().hot_keys; };
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());  // step 1: counts 1
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());  // step 2: count 2 = threshold
  EXPECT_EQ(hot_keys(), 2);                              // 1 and 2 got the room
  for (int step = 3; step <= 9; ++step) ASSERT_TRUE(Plan(t.get(), {3, 4}).status.ok());
  // Step 10: threshold = 2nd largest count = 9 (keys 3, 4); 1 and 2 leave.
  ASSERT_TRUE(Plan(t.get(), {3}).status.ok());
  EXPECT_EQ(hot_keys(), 1);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, 2), kTierDevice);
  ASSERT_TRUE(Plan(t.get(), {1, 4}).status.ok());  // step 11: 1 at count 3 stays out
  EXPECT_EQ(hot_keys(), 2);
  // Only 3 from step 12 on: at step 20, 4 (count 10 = threshold) was idle for
  // 9 steps and stays; at step 30 it leaves, and returns on its next lookup.
  for (int step = 12; step <= 29; ++step) ASSERT_TRUE(Plan(t.get(), {3}).status.ok());
  EXPECT_EQ(hot_keys(), 2);
  ASSERT_TRUE(Plan(t.get(), {}).status.ok());  // step 30
  EXPECT_EQ(hot_keys(), 1);
  EXPECT_EQ(TierOf(*t, 4), kTierDevice);
  ASSERT_TRUE(Plan(t.get(), {4}).status.ok());  // step 31
  EXPECT_EQ(hot_keys(), 2);
  // Without 3 and 4 the threshold falls back to 2 at the refresh of step 40.
  const std::vector<int64_t> gone = {3, 4};
  ASSERT_EQ(t->Erase<int64_t>(2, gone.data()), 2);
  ASSERT_TRUE(Plan(t.get(), {1}).status.ok());  // step 32: count 4 < 10
  EXPECT_EQ(hot_keys(), 0);
  for (int step = 33; step <= 40; ++step) ASSERT_TRUE(Plan(t.get(), {}).status.ok());
  ASSERT_TRUE(Plan(t.get(), {1}).status.ok());  // step 41: count 5 >= 2
  EXPECT_EQ(hot_keys(), 1);
}

// A refresh runs on the first lookup of a step, before it picks victims: the
// keys leaving the hot set stay on the device but may be evicted by that very
// step.
TEST(HotEmbeddingTest, KeysLeavingTheHotSetAtARefreshAreVictimsOfThatStep) {
  auto t = MakeTable(Options(/*device=*/8, /*host=*/100, /*hot=*/6, DevicePolicy::kLru,
                             /*refresh=*/10));
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());
  ASSERT_TRUE(Plan(t.get(), Range(1, 7)).status.ok());
  for (int step = 3; step <= 19; ++step) ASSERT_TRUE(Plan(t.get(), {}).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);  // window 0 kept them; window 1 was idle
  Lookup r = Plan(t.get(), Range(100, 108));  // step 20: every slot
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.plan.evict_slots.size(), 6u);
  EXPECT_EQ(t->stats().hot_keys, 0);
  for (int64_t k = 1; k < 7; ++k) EXPECT_EQ(TierOf(*t, k), kTierHost) << k;
}

// Hot embedding only adds bookkeeping: the keys and counters of a table that
// never has a hot key (threshold never reached) match a table without it.
TEST(HotEmbeddingTest, NoRepeatedKeysNoHotKeys) {
  auto plain = MakeTable(Options(8, 64, 0));
  auto hot = MakeTable(Options(8, 64, 4));
  for (int64_t k = 0; k < 40; k += 4) {
    const std::vector<int64_t> keys = Range(k, k + 4);
    ASSERT_TRUE(Plan(plain.get(), keys).status.ok());
    ASSERT_TRUE(Plan(hot.get(), keys).status.ok());
  }
  EXPECT_TRUE(SameStats(plain->stats(), hot->stats()));
  EXPECT_EQ(hot->stats().hot_keys, 0);
  const std::vector<int64_t> all = Range(0, 40);
  EXPECT_EQ(testing_util::Locate(*plain, all), testing_util::Locate(*hot, all));
  EXPECT_GT(hot->memory_bytes(), plain->memory_bytes());
}

}  // namespace
}  // namespace asc
