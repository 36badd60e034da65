// TableOptions::device_policy: which device slot a DDR-mode PlanLookup evicts
// (LRU vs sampled LFU), and that LFU keeps the step-pinning and all-or-nothing
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

using testing_util::Lookup;
using testing_util::MakeTable;
using testing_util::TierOf;

TableOptions Options(int64_t device, int64_t host, DevicePolicy policy) {
  TableOptions o = testing_util::TieredOptions(device, host, /*dim=*/2, /*row_width=*/3);
  o.device_policy = policy;
  return o;
}

// Row contents do not matter here, only which slots are evicted.
Lookup Plan(Table* t, const std::vector<int64_t>& keys, bool begin_step) {
  return testing_util::PlanAndCommit(t, keys, begin_step);
}

// A, B, C are looked up every step; D once at the start and once just now,
// so D is the most recently used key but the least frequently used one.
// Returns the slot the new key E evicts.
int64_t EvictionAfterHotAndColdKeys(DevicePolicy policy, int64_t* slot_of_a, int64_t* slot_of_d) {
  constexpr int64_t A = 10, B = 11, C = 12, D = 13, E = 14;
  auto t = MakeTable(Options(4, 16, policy));
  Lookup first = Plan(t.get(), {A, B, C, D}, true);
  EXPECT_TRUE(first.status.ok()) << first.status.message();
  *slot_of_a = first.slots[0];
  *slot_of_d = first.slots[3];
  for (int step = 0; step < 20; ++step) EXPECT_TRUE(Plan(t.get(), {A, B, C}, true).status.ok());
  EXPECT_TRUE(Plan(t.get(), {D}, true).status.ok());
  Lookup e = Plan(t.get(), {E}, true);
  EXPECT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.plan.evict_slots.size(), 1u);
  EXPECT_EQ(TierOf(*t, E), kTierDevice);
  if (policy == DevicePolicy::kLfu) {
    EXPECT_EQ(TierOf(*t, D), kTierHost);
    EXPECT_EQ(TierOf(*t, A), kTierDevice);
  } else {
    EXPECT_EQ(TierOf(*t, A), kTierHost);
    EXPECT_EQ(TierOf(*t, D), kTierDevice);
  }
  return e.plan.evict_slots.empty() ? -1 : e.plan.evict_slots[0];
}

TEST(DevicePolicyTest, LfuEvictsTheColdKeyLruEvictsTheOldOne) {
  int64_t a = -1, d = -1;
  EXPECT_EQ(EvictionAfterHotAndColdKeys(DevicePolicy::kLru, &a, &d), a);
  EXPECT_EQ(EvictionAfterHotAndColdKeys(DevicePolicy::kLfu, &a, &d), d);
}

TEST(DevicePolicyTest, LfuCountsTravelThroughTheHostTier) {
  // Key 1 is hot, goes to the host tier (a step pins the rest of the device),
  // comes back, and must then outlive a colder, more recent key.
  auto t = MakeTable(Options(2, 16, DevicePolicy::kLfu));
  for (int step = 0; step < 10; ++step) ASSERT_TRUE(Plan(t.get(), {1}, true).status.ok());
  ASSERT_TRUE(Plan(t.get(), {2, 3}, true).status.ok());  // 1 -> host (only unpinned slot)
  ASSERT_EQ(TierOf(*t, 1), kTierHost);
  ASSERT_TRUE(Plan(t.get(), {1}, true).status.ok());  // evicts 2 or 3 (count 1 each)
  ASSERT_EQ(TierOf(*t, 1), kTierDevice);
  const int64_t other = TierOf(*t, 2) == kTierDevice ? 2 : 3;
  ASSERT_EQ(TierOf(*t, other), kTierDevice);
  ASSERT_TRUE(Plan(t.get(), {other}, true).status.ok());  // count 2, more recent than 1
  ASSERT_TRUE(Plan(t.get(), {4}, true).status.ok());  // LRU would evict 1 (count 11)
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(TierOf(*t, other), kTierHost);
  EXPECT_EQ(TierOf(*t, 4), kTierDevice);
}

// Beyond 16 slots LFU samples: hot keys survive a stream of one-off keys that
// LRU lets push them out.
TEST(DevicePolicyTest, SampledLfuKeepsHotKeysUnderAScan) {
  constexpr int64_t kDevice = 64;
  for (DevicePolicy policy : {DevicePolicy::kLru, DevicePolicy::kLfu}) {
    auto t = MakeTable(Options(kDevice, 4096, policy));
    std::vector<int64_t> hot, cold;
    for (int64_t k = 0; k < kDevice / 2; ++k) hot.push_back(k);
    for (int64_t k = kDevice / 2; k < kDevice; ++k) cold.push_back(k);
    ASSERT_TRUE(Plan(t.get(), cold, true).status.ok());
    for (int step = 0; step < 8; ++step) ASSERT_TRUE(Plan(t.get(), hot, true).status.ok());
    for (int64_t k = 1000; k < 1200; ++k) {  // one-off keys, one per step
      ASSERT_TRUE(Plan(t.get(), {k}, true).status.ok()) << DevicePolicyName(policy);
    }
    int64_t hot_on_device = 0;
    for (int64_t k : hot) hot_on_device += TierOf(*t, k) == kTierDevice;
    if (policy == DevicePolicy::kLfu) {
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
  auto t = MakeTable(Options(kDevice, 4096, DevicePolicy::kLfu));
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < kDevice; ++k) keys.push_back(k);
  ASSERT_TRUE(Plan(t.get(), keys, true).status.ok());
  // Keys 62, 63 become the hottest, so a pure minimum would pick a pinned slot.
  for (int step = 0; step < 5; ++step) ASSERT_TRUE(Plan(t.get(), {62, 63}, true).status.ok());
  std::vector<int64_t> pinned(keys.begin(), keys.begin() + kDevice - 2);
  Lookup hits = Plan(t.get(), pinned, true);
  ASSERT_TRUE(hits.status.ok());
  ASSERT_TRUE(hits.plan.evict_slots.empty());
  Lookup first = Plan(t.get(), {100}, false);
  ASSERT_TRUE(first.status.ok()) << first.status.message();
  Lookup second = Plan(t.get(), {101}, false);
  ASSERT_TRUE(second.status.ok()) << second.status.message();
  EXPECT_EQ(TierOf(*t, 62), kTierHost);
  EXPECT_EQ(TierOf(*t, 63), kTierHost);
  for (int64_t k : pinned) ASSERT_EQ(TierOf(*t, k), kTierDevice) << k;

  const TableStats before = t->stats();
  Lookup full = Plan(t.get(), {102}, false);
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.status.message().find("device_vocabulary_size=64"), std::string::npos)
      << full.status.message();
  EXPECT_EQ(t->stats().evictions, before.evictions);
  EXPECT_EQ(TierOf(*t, 102), kTierAbsent);
  // The next step may evict again.
  EXPECT_TRUE(Plan(t.get(), {102}, true).status.ok());
  EXPECT_EQ(TierOf(*t, 102), kTierDevice);
}

TEST(DevicePolicyTest, DefaultIsLruAndValidateRejectsUnknownPolicies) {
  TableOptions o;
  EXPECT_EQ(o.device_policy, DevicePolicy::kLru);
  EXPECT_STREQ(DevicePolicyName(DevicePolicy::kLru), "lru");
  EXPECT_STREQ(DevicePolicyName(DevicePolicy::kLfu), "lfu");
  o = Options(4, 8, static_cast<DevicePolicy>(7));
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(o.Validate().message(), "device_policy must be lru or lfu, got 7 (table 'emb')");
  o.host_capacity = 0;  // checked in HBM mode too, where it is otherwise ignored
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o.device_policy = DevicePolicy::kLfu;
  EXPECT_TRUE(o.Validate().ok());
  std::unique_ptr<Table> t;
  EXPECT_EQ(Table::Create(Options(4, 8, static_cast<DevicePolicy>(-1)), &t).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(t, nullptr);
}

}  // namespace
}  // namespace asc
