// TableOptions::hot_vocabulary_size: frequently looked-up keys of a DDR-mode table
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

using testing_util::FakeDevice;
using testing_util::LookupResult;
using testing_util::MakeTable;
using testing_util::SameStats;
using testing_util::TierOf;

// A DDR table whose window never ends unless the test says so.
TableOptions Options(int64_t device, int64_t host, int64_t hot,
                     CachePolicy policy = CachePolicy::kLru, int64_t refresh = 1000000) {
  TableOptions o = testing_util::TieredOptions(device, host, /*dim=*/2);
  o.cache_policy = policy;
  o.hot_vocabulary_size = hot;
  o.hot_refresh_steps = refresh;
  return o;
}

// A table and its device rows (dim 2, one optimizer-state block).
struct Hot {
  explicit Hot(const TableOptions& o) : t(MakeTable(o)), dev(o.device_vocabulary_size, 2, {0.5f}) {}
  Table* get() { return t.get(); }
  Table* operator->() { return t.get(); }
  Table& operator*() { return *t; }
  std::unique_ptr<Table> t;
  FakeDevice dev;
};

// One step of one lookup; row contents do not matter here, only where keys go.
LookupResult Plan(Hot* h, const std::vector<int64_t>& keys) {
  return testing_util::RunStep(h->get(), &h->dev, keys);
}

std::vector<int64_t> Range(int64_t begin, int64_t end) {
  std::vector<int64_t> keys;
  for (int64_t k = begin; k < end; ++k) keys.push_back(k);
  return keys;
}

TEST(HotEmbeddingTest, ValidateNamesTheFieldAndItsRange) {
  TableOptions o = Options(8, 16, /*hot=*/8);
  EXPECT_EQ(o.Validate().message(),
            "hot_vocabulary_size must be in [0, 7], got 8 (below device_vocabulary_size) "
            "(table 'emb')");
  o.hot_vocabulary_size = -1;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o.hot_vocabulary_size = 7;
  EXPECT_TRUE(o.Validate().ok());
  o.host_vocabulary_size = 0;
  EXPECT_EQ(o.Validate().message(),
            "hot_vocabulary_size > 0 (hot_embedding) needs a host tier (host_vocabulary_size > 0): "
            "without one every key stays on the device (table 'emb')");
  o.hot_vocabulary_size = 0;  // off: fine in HBM mode
  EXPECT_TRUE(o.Validate().ok());
  o = Options(8, 16, 4, CachePolicy::kLru, /*refresh=*/0);
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
  for (int64_t hot_vocabulary_size : {int64_t{0}, kDevice / 2}) {
    Hot t(Options(kDevice, 4096, hot_vocabulary_size));
    const std::vector<int64_t> frequent = Range(0, kDevice / 2);
    ASSERT_TRUE(Plan(&t, Range(kDevice / 2, kDevice)).status.ok());
    for (int step = 0; step < 8; ++step) ASSERT_TRUE(Plan(&t, frequent).status.ok());
    EXPECT_EQ(t->stats().hot_keys, hot_vocabulary_size);
    for (int64_t k = 1000; k < 1200; ++k) ASSERT_TRUE(Plan(&t, {k}).status.ok());
    int64_t frequent_on_device = 0;
    for (int64_t k : frequent) frequent_on_device += TierOf(*t, k) == kTierDevice;
    EXPECT_EQ(frequent_on_device, hot_vocabulary_size);
    const TableStats s = t->stats();
    EXPECT_EQ(s.evictions, 200);
    EXPECT_EQ(s.hot_keys, hot_vocabulary_size);
    // Promoted on their second lookup, so hot for the 6 lookups after it.
    EXPECT_EQ(s.hot_hits, hot_vocabulary_size * 6);
  }
}

// Keys 1, 2 are hot with count 2; keys 3, 4 are looked up far more but find
// the hot set full. The new key 5 must evict 3 or 4, although LRU (1 is the
// least recently used) and LFU (1, 2 have the lowest counts) would pick 1 or 2.
TEST(HotEmbeddingTest, HotSlotsAreNeverVictimsUnderEitherPolicy) {
  for (CachePolicy policy : {CachePolicy::kLru, CachePolicy::kLfu}) {
    for (int64_t hot_vocabulary_size : {int64_t{0}, int64_t{2}}) {
      Hot t(Options(4, 16, hot_vocabulary_size, policy));
      ASSERT_TRUE(Plan(&t, {1, 2}).status.ok());
      ASSERT_TRUE(Plan(&t, {1, 2}).status.ok());
      EXPECT_EQ(t->stats().hot_keys, hot_vocabulary_size);
      for (int step = 0; step < 10; ++step) ASSERT_TRUE(Plan(&t, {3, 4}).status.ok());
      EXPECT_EQ(t->stats().hot_keys, hot_vocabulary_size);
      LookupResult r = Plan(&t, {5});
      ASSERT_TRUE(r.status.ok()) << r.status.message();
      ASSERT_EQ(r.gathered.size(), 1u);
      const bool hot_on_device = TierOf(*t, 1) == kTierDevice && TierOf(*t, 2) == kTierDevice;
      EXPECT_EQ(hot_on_device, hot_vocabulary_size > 0) << CachePolicyName(policy);
      EXPECT_EQ(TierOf(*t, 5), kTierDevice);
    }
  }
}

TEST(HotEmbeddingTest, CountersOnASmallExample) {
  Hot t(Options(/*device=*/4, /*host=*/16, /*hot=*/2));
  ASSERT_TRUE(Plan(&t, {1, 2, 3}).status.ok());  // 3 new
  ASSERT_TRUE(Plan(&t, {1, 2}).status.ok());     // 2 hits, 1 and 2 become hot
  EXPECT_EQ(t->stats().hot_keys, 2);
  EXPECT_EQ(t->stats().hot_hits, 0);
  ASSERT_TRUE(Plan(&t, {1, 2, 3}).status.ok());  // 2 hot hits; 3 qualifies, no room
  // 4 takes the free slot; 5 evicts 3, the only slot that is neither hot nor
  // used in this step.
  LookupResult r = Plan(&t, {1, 4, 5});
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
  EXPECT_STREQ(got[17].first, "hot_keys");
  EXPECT_STREQ(got[18].first, "hot_hits");
  EXPECT_STREQ(got[TableStats::kNumFields - 2].first, "open_steps");
  EXPECT_STREQ(got[TableStats::kNumFields - 1].first, "rolled_back_keys");
}

// A step needing more slots than the non-hot part of the device has takes the
// least recently used hot slots the step does not use; one needing more than
// the whole device still fails and changes nothing.
TEST(HotEmbeddingTest, AStepThatNeedsHotSlotsTakesThemBack) {
  Hot t(Options(/*device=*/8, /*host=*/100, /*hot=*/6));
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);
  // Keys 1, 2 used (one lookup now, one later in the step); 6 new keys need 2
  // free slots and 4 of the hot slots of 3..6.
  const Table::StepId step = t->BeginStep();
  ASSERT_TRUE(testing_util::LookupKeys<int64_t>(t.get(), step, {2}, &t.dev).status.ok());
  const std::vector<int64_t> keys = {1, 100, 101, 102, 103, 104, 105};
  LookupResult r = testing_util::LookupKeys<int64_t>(t.get(), step, keys, &t.dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.gathered.size(), 4u);
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, keys, r, &t.dev).ok());
  t->EndStep(step, true);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, 2), kTierDevice);
  for (int64_t k = 3; k <= 6; ++k) EXPECT_EQ(TierOf(*t, k), kTierHost) << k;
  EXPECT_EQ(t->stats().hot_keys, 2);

  // 8 keys of one step: every slot, hot ones included.
  ASSERT_TRUE(Plan(&t, Range(200, 208)).status.ok());
  EXPECT_EQ(t->stats().hot_keys, 0);
  EXPECT_EQ(t->stats().device_keys, 8);
  // Hot again, then a step of 9 keys: more than the device, all or nothing.
  ASSERT_TRUE(Plan(&t, Range(200, 206)).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);
  const TableStats before = t->stats();
  LookupResult full = Plan(&t, Range(300, 309));
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted) << full.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  for (int64_t k = 200; k < 208; ++k) EXPECT_EQ(TierOf(*t, k), kTierDevice) << k;
}

// Taking hot slots back respects the pins of every open step, not only the
// looking-up one.
TEST(HotEmbeddingTest, HotSlotsPinnedByAnotherOpenStepAreNotTakenBack) {
  Hot t(Options(/*device=*/4, /*host=*/100, /*hot=*/2));
  ASSERT_TRUE(Plan(&t, {1, 2, 3, 4}).status.ok());
  ASSERT_TRUE(Plan(&t, {1, 2}).status.ok());  // 1, 2 hot
  ASSERT_EQ(t->stats().hot_keys, 2);
  const Table::StepId a = t->BeginStep();
  ASSERT_TRUE(testing_util::LookupKeys<int64_t>(t.get(), a, {1}, &t.dev).status.ok());
  const Table::StepId b = t->BeginStep();
  const std::vector<int64_t> keys = {10, 11, 12};
  LookupResult r = testing_util::LookupKeys<int64_t>(t.get(), b, keys, &t.dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), b, keys, r, &t.dev).ok());
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, 2), kTierHost);
  EXPECT_EQ(t->stats().hot_keys, 1);
  const TableStats before = t->stats();
  LookupResult full = testing_util::LookupKeys<int64_t>(t.get(), b, {13}, &t.dev);
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted) << full.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  t->EndStep(a, true);
  LookupResult after = testing_util::LookupKeys<int64_t>(t.get(), b, {13}, &t.dev);
  ASSERT_TRUE(after.status.ok()) << after.status.message();
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), b, {13}, after, &t.dev).ok());
  EXPECT_EQ(TierOf(*t, 1), kTierHost);
  EXPECT_EQ(t->stats().hot_keys, 0);
  t->EndStep(b, true);
}

TEST(HotEmbeddingTest, EraseUnpinsTheKey) {
  Hot t(Options(/*device=*/4, /*host=*/64, /*hot=*/1));
  ASSERT_TRUE(Plan(&t, {7, 8}).status.ok());
  ASSERT_TRUE(Plan(&t, {7, 8}).status.ok());  // 7 hot (first to qualify)
  ASSERT_EQ(t->stats().hot_keys, 1);
  const int64_t key = 7;
  ASSERT_EQ(t->Erase<int64_t>(1, &key), 1);
  EXPECT_EQ(t->stats().hot_keys, 0);
  EXPECT_EQ(TierOf(*t, 7), kTierAbsent);
  // Room again: 8 becomes hot on its next lookup; 7 comes back as a new key.
  ASSERT_TRUE(Plan(&t, {8}).status.ok());
  EXPECT_EQ(t->stats().hot_keys, 1);
  LookupResult back = Plan(&t, {7});
  ASSERT_TRUE(back.status.ok());
  EXPECT_TRUE(back.needs_init[0]);
  EXPECT_EQ(t->stats().hot_keys, 1);
  // The whole device fills and cycles; the hot key 8 stays.
  for (int64_t k = 20; k < 40; k += 2) {
    LookupResult r = Plan(&t, {k, k + 1});
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  }
  EXPECT_EQ(TierOf(*t, 8), kTierDevice);
  EXPECT_EQ(TierOf(*t, 7), kTierHost);
  EXPECT_EQ(t->stats().device_keys, 4);
}

// Refreshes every 10 steps: the threshold becomes the hot_vocabulary_size-th largest
// count on the device, hot keys below it or idle for a whole window leave the
// set (not the device), and qualifying keys join on their next lookup.
TEST(HotEmbeddingTest, RefreshFollowsTheDistribution) {
  Hot t(Options(/*device=*/16, /*host=*/100, /*hot=*/2, CachePolicy::kLru,
                             /*refresh=*/10));
  auto hot_keys = [&] { return t->stats().hot_keys; };
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());  // step 1: counts 1
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());  // step 2: count 2 = threshold
  EXPECT_EQ(hot_keys(), 2);                              // 1 and 2 got the room
  for (int step = 3; step <= 9; ++step) ASSERT_TRUE(Plan(&t, {3, 4}).status.ok());
  // Step 10: threshold = 2nd largest count = 9 (keys 3, 4); 1 and 2 leave.
  ASSERT_TRUE(Plan(&t, {3}).status.ok());
  EXPECT_EQ(hot_keys(), 1);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, 2), kTierDevice);
  ASSERT_TRUE(Plan(&t, {1, 4}).status.ok());  // step 11: 1 at count 3 stays out
  EXPECT_EQ(hot_keys(), 2);
  // Only 3 from step 12 on: at step 20, 4 (count 10 = threshold) was idle for
  // 9 steps and stays; at step 30 it leaves, and returns on its next lookup.
  for (int step = 12; step <= 29; ++step) ASSERT_TRUE(Plan(&t, {3}).status.ok());
  EXPECT_EQ(hot_keys(), 2);
  ASSERT_TRUE(Plan(&t, {}).status.ok());  // step 30
  EXPECT_EQ(hot_keys(), 1);
  EXPECT_EQ(TierOf(*t, 4), kTierDevice);
  ASSERT_TRUE(Plan(&t, {4}).status.ok());  // step 31
  EXPECT_EQ(hot_keys(), 2);
  // Without 3 and 4 the threshold falls back to 2 at the refresh of step 40.
  const std::vector<int64_t> gone = {3, 4};
  ASSERT_EQ(t->Erase<int64_t>(2, gone.data()), 2);
  ASSERT_TRUE(Plan(&t, {1}).status.ok());  // step 32: count 4 < 10
  EXPECT_EQ(hot_keys(), 0);
  for (int step = 33; step <= 40; ++step) ASSERT_TRUE(Plan(&t, {}).status.ok());
  ASSERT_TRUE(Plan(&t, {1}).status.ok());  // step 41: count 5 >= 2
  EXPECT_EQ(hot_keys(), 1);
}

// A refresh runs on the first lookup of a step, before it picks victims: the
// keys leaving the hot set stay on the device but may be evicted by that very
// step.
TEST(HotEmbeddingTest, KeysLeavingTheHotSetAtARefreshAreVictimsOfThatStep) {
  Hot t(Options(/*device=*/8, /*host=*/100, /*hot=*/6, CachePolicy::kLru,
                             /*refresh=*/10));
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());
  ASSERT_TRUE(Plan(&t, Range(1, 7)).status.ok());
  for (int step = 3; step <= 19; ++step) ASSERT_TRUE(Plan(&t, {}).status.ok());
  ASSERT_EQ(t->stats().hot_keys, 6);  // window 0 kept them; window 1 was idle
  LookupResult r = Plan(&t, Range(100, 108));  // step 20: every slot
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.gathered.size(), 6u);
  EXPECT_EQ(t->stats().hot_keys, 0);
  for (int64_t k = 1; k < 7; ++k) EXPECT_EQ(TierOf(*t, k), kTierHost) << k;
}

// Hot embedding only adds bookkeeping: the keys and counters of a table that
// never has a hot key (threshold never reached) match a table without it.
TEST(HotEmbeddingTest, NoRepeatedKeysNoHotKeys) {
  Hot plain(Options(8, 64, 0));
  Hot hot(Options(8, 64, 4));
  for (int64_t k = 0; k < 40; k += 4) {
    const std::vector<int64_t> keys = Range(k, k + 4);
    ASSERT_TRUE(Plan(&plain, keys).status.ok());
    ASSERT_TRUE(Plan(&hot, keys).status.ok());
  }
  EXPECT_TRUE(SameStats(plain->stats(), hot->stats()));
  EXPECT_EQ(hot->stats().hot_keys, 0);
  const std::vector<int64_t> all = Range(0, 40);
  EXPECT_EQ(testing_util::Locate(*plain, all), testing_util::Locate(*hot, all));
  EXPECT_GT(hot->memory_bytes(), plain->memory_bytes());
}

}  // namespace
}  // namespace asc
