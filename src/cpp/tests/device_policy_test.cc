// TableOptions::cache_policy: which device slot a DDR-mode Lookup evicts (LRU
// vs sampled LFU), and that LFU keeps the pinning and all-or-nothing
// guarantees. The randomized reference simulation runs with both policies in
// table_tiering_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::FakeDevice;
using testing_util::LookupKeys;
using testing_util::LookupResult;
using testing_util::MakeTable;
using testing_util::TierOf;

TableOptions Options(int64_t device, int64_t host, CachePolicy policy) {
  TableOptions o = testing_util::TieredOptions(device, host, /*dim=*/2);
  o.cache_policy = policy;
  return o;
}

// One step of one lookup; row contents do not matter here, only which slots
// are evicted.
LookupResult Plan(Table* t, FakeDevice* dev, const std::vector<int64_t>& keys) {
  return testing_util::RunStep(t, dev, keys);
}

// A, B, C are looked up every step; D once at the start and once just now,
// so D is the most recently used key but the least frequently used one.
// Returns the slot the new key E evicts.
int64_t EvictionAfterHotAndColdKeys(CachePolicy policy, int64_t* slot_of_a, int64_t* slot_of_d) {
  constexpr int64_t A = 10, B = 11, C = 12, D = 13, E = 14;
  auto t = MakeTable(Options(4, 16, policy));
  FakeDevice dev(4, 2, {0.5f});
  LookupResult first = Plan(t.get(), &dev, {A, B, C, D});
  EXPECT_TRUE(first.status.ok()) << first.status.message();
  *slot_of_a = first.slots[0];
  *slot_of_d = first.slots[3];
  for (int step = 0; step < 20; ++step) EXPECT_TRUE(Plan(t.get(), &dev, {A, B, C}).status.ok());
  EXPECT_TRUE(Plan(t.get(), &dev, {D}).status.ok());
  LookupResult e = Plan(t.get(), &dev, {E});
  EXPECT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.gathered.size(), 1u);
  EXPECT_EQ(TierOf(*t, E), kTierDevice);
  if (policy == CachePolicy::kLfu) {
    EXPECT_EQ(TierOf(*t, D), kTierHost);
    EXPECT_EQ(TierOf(*t, A), kTierDevice);
  } else {
    EXPECT_EQ(TierOf(*t, A), kTierHost);
    EXPECT_EQ(TierOf(*t, D), kTierDevice);
  }
  return e.gathered.empty() ? -1 : e.gathered[0];
}

TEST(DevicePolicyTest, LfuEvictsTheColdKeyLruEvictsTheOldOne) {
  int64_t a = -1, d = -1;
  EXPECT_EQ(EvictionAfterHotAndColdKeys(CachePolicy::kLru, &a, &d), a);
  EXPECT_EQ(EvictionAfterHotAndColdKeys(CachePolicy::kLfu, &a, &d), d);
}

TEST(DevicePolicyTest, LfuCountsTravelThroughTheHostTier) {
  // Key 1 is hot, goes to the host tier (a step pins the rest of the device),
  // comes back, and must then outlive a colder, more recent key.
  auto t = MakeTable(Options(2, 16, CachePolicy::kLfu));
  FakeDevice dev(2, 2, {0.5f});
  for (int step = 0; step < 10; ++step) ASSERT_TRUE(Plan(t.get(), &dev, {1}).status.ok());
  ASSERT_TRUE(Plan(t.get(), &dev, {2, 3}).status.ok());  // 1 -> host (only unpinned slot)
  ASSERT_EQ(TierOf(*t, 1), kTierHost);
  ASSERT_TRUE(Plan(t.get(), &dev, {1}).status.ok());  // evicts 2 or 3 (count 1 each)
  ASSERT_EQ(TierOf(*t, 1), kTierDevice);
  const int64_t other = TierOf(*t, 2) == kTierDevice ? 2 : 3;
  ASSERT_EQ(TierOf(*t, other), kTierDevice);
  ASSERT_TRUE(Plan(t.get(), &dev, {other}).status.ok());  // count 2, more recent than 1
  ASSERT_TRUE(Plan(t.get(), &dev, {4}).status.ok());  // LRU would evict 1 (count 11)
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, other), kTierHost);
  EXPECT_EQ(TierOf(*t, 4), kTierDevice);
}

// Beyond 16 slots LFU samples: hot keys survive a stream of one-off keys that
// LRU lets push them out.
TEST(DevicePolicyTest, SampledLfuKeepsHotKeysUnderAScan) {
  constexpr int64_t kDevice = 64;
  for (CachePolicy policy : {CachePolicy::kLru, CachePolicy::kLfu}) {
    auto t = MakeTable(Options(kDevice, 4096, policy));
    FakeDevice dev(kDevice, 2, {0.5f});
    std::vector<int64_t> hot, cold;
    for (int64_t k = 0; k < kDevice / 2; ++k) hot.push_back(k);
    for (int64_t k = kDevice / 2; k < kDevice; ++k) cold.push_back(k);
    ASSERT_TRUE(Plan(t.get(), &dev, cold).status.ok());
    for (int step = 0; step < 8; ++step) ASSERT_TRUE(Plan(t.get(), &dev, hot).status.ok());
    for (int64_t k = 1000; k < 1200; ++k) {  // one-off keys, one per step
      ASSERT_TRUE(Plan(t.get(), &dev, {k}).status.ok()) << CachePolicyName(policy);
    }
    int64_t hot_on_device = 0;
    for (int64_t k : hot) hot_on_device += TierOf(*t, k) == kTierDevice;
    if (policy == CachePolicy::kLfu) {
      EXPECT_EQ(hot_on_device, kDevice / 2);
    } else {
      EXPECT_EQ(hot_on_device, 0);
    }
    const TableStats s = t->stats();
    EXPECT_EQ(s.device_keys, kDevice);
    EXPECT_EQ(s.evictions, 200);
  }
}

// With few unpinned slots, sampling rarely draws one; the victim must still be
// unpinned, and once none is left the lookup fails changing nothing.
TEST(DevicePolicyTest, LfuNeverEvictsASlotPinnedByTheStep) {
  constexpr int64_t kDevice = 64;
  auto t = MakeTable(Options(kDevice, 4096, CachePolicy::kLfu));
  FakeDevice dev(kDevice, 2, {0.5f});
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < kDevice; ++k) keys.push_back(k);
  ASSERT_TRUE(Plan(t.get(), &dev, keys).status.ok());
  // Keys 62, 63 become the hottest, so a pure minimum would pick a pinned slot.
  for (int step = 0; step < 5; ++step) ASSERT_TRUE(Plan(t.get(), &dev, {62, 63}).status.ok());
  std::vector<int64_t> pinned(keys.begin(), keys.begin() + kDevice - 2);
  const Table::StepId step = t->BeginStep();
  LookupResult hits = LookupKeys<int64_t>(t.get(), step, pinned, &dev);
  ASSERT_TRUE(hits.status.ok());
  ASSERT_TRUE(hits.gathered.empty());
  LookupResult first = LookupKeys<int64_t>(t.get(), step, {100}, &dev);
  ASSERT_TRUE(first.status.ok()) << first.status.message();
  LookupResult second = LookupKeys<int64_t>(t.get(), step, {101}, &dev);
  ASSERT_TRUE(second.status.ok()) << second.status.message();
  EXPECT_EQ(TierOf(*t, 62), kTierHost);
  EXPECT_EQ(TierOf(*t, 63), kTierHost);
  for (int64_t k : pinned) ASSERT_EQ(TierOf(*t, k), kTierDevice) << k;

  const TableStats before = t->stats();
  LookupResult full = LookupKeys<int64_t>(t.get(), step, {102}, &dev);
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.status.message().find("device_vocabulary_size=64"), std::string::npos)
      << full.status.message();
  EXPECT_EQ(t->stats().evictions, before.evictions);
  EXPECT_TRUE(full.gathered.empty());
  EXPECT_EQ(TierOf(*t, 102), kTierAbsent);
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, {100}, first, &dev).ok());
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, {101}, second, &dev).ok());
  t->EndStep(step, true);
  // The next step may evict again.
  LookupResult next = Plan(t.get(), &dev, {102});
  EXPECT_TRUE(next.status.ok()) << next.status.message();
  EXPECT_EQ(next.gathered.size(), 1u);
  EXPECT_EQ(TierOf(*t, 102), kTierDevice);
}

TEST(DevicePolicyTest, DefaultIsLruAndValidateRejectsUnknownPolicies) {
  TableOptions o;
  EXPECT_EQ(o.cache_policy, CachePolicy::kLru);
  EXPECT_STREQ(CachePolicyName(CachePolicy::kLru), "LRU");
  EXPECT_STREQ(CachePolicyName(CachePolicy::kLfu), "LFU");
  o = Options(4, 8, static_cast<CachePolicy>(7));
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(o.Validate().message(), "cache_policy must be LRU or LFU, got 7 (table 'emb')");
  o.host_vocabulary_size = 0;  // checked in HBM mode too, where it is otherwise ignored
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o.cache_policy = CachePolicy::kLfu;
  EXPECT_TRUE(o.Validate().ok());
  std::unique_ptr<Table> t;
  EXPECT_EQ(Table::Create(Options(4, 8, static_cast<CachePolicy>(-1)), &t).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(t, nullptr);
}

}  // namespace
}  // namespace asc
