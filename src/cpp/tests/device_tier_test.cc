// DeviceTier: per-slot keys and counts, the cold order and the hot set, and
// the victim policy (LRU skipping pinned slots, sampled LFU, hot slots only
// when every cold slot is pinned). The policies through a Table:
// device_policy_test.cc and hot_embedding_test.cc.
#include "../core/device_tier.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "../core/sample_rng.h"
#include "../core/slot_states.h"

namespace asc {
namespace internal {
namespace {

// A tier of `slots` slots whose slot s holds key 100 + s with count
// counts[s] (1 when not given), used at time s + 1 (slot 0 least recent).
struct Tier {
  Tier(int64_t slots, CachePolicy policy, int64_t hot = 0, std::vector<uint32_t> counts = {})
      : tier(slots, policy, hot, /*hot_refresh_steps=*/1000, &rng), states(slots) {
    for (int64_t s = 0; s < slots; ++s) {
      tier.Hold(s, 100 + s, counts.empty() ? 1 : counts[static_cast<size_t>(s)]);
      tier.Use(s, static_cast<uint64_t>(s + 1));
    }
  }
  SampleRng rng;
  DeviceTier tier;
  SlotStates states;
};

TEST(DeviceTierTest, HoldsKeysAndCounts) {
  Tier t(4, CachePolicy::kLru);
  EXPECT_EQ(t.tier.slots(), 4);
  EXPECT_EQ(t.tier.key(2), 102);
  EXPECT_EQ(t.tier.freq(2), 1u);
  t.tier.CountUse(2);
  EXPECT_EQ(t.tier.freq(2), 2u);
  t.tier.Hold(3, 7, UINT32_MAX);
  t.tier.CountUse(3);
  EXPECT_EQ(t.tier.freq(3), UINT32_MAX);  // saturates
  EXPECT_EQ(BumpCount(5), 6u);
}

TEST(DeviceTierTest, LruVictimIsTheLeastRecentlyUsedUnpinnedSlot) {
  Tier t(4, CachePolicy::kLru);
  EXPECT_EQ(t.tier.Victim(t.states, 10), 0);
  t.states.Pin(0);
  EXPECT_EQ(t.tier.Victim(t.states, 10), 1);  // 0 is now the most recent
  t.tier.Hold(1, 55, 1);
  t.tier.Use(1, 10);
  t.states.Unpin(0);
  EXPECT_EQ(t.tier.Victim(t.states, 11), 2);  // order: 2 3 0 1
}

TEST(DeviceTierTest, LruDrawsNothingFromTheSharedGenerator) {
  Tier t(32, CachePolicy::kLru);
  for (int i = 0; i < 5; ++i) t.tier.Victim(t.states, 40);
  EXPECT_EQ(t.rng.Next(), SampleRng().Next());
}

TEST(DeviceTierTest, SmallLfuTierScansEverySlot) {
  //                         slot: 0  1  2  3
  Tier t(4, CachePolicy::kLfu, 0, {5, 3, 9, 3});
  EXPECT_EQ(t.tier.Victim(t.states, 10), 1);  // lowest count, less recent of 1 and 3
  t.states.Pin(1);
  EXPECT_EQ(t.tier.Victim(t.states, 10), 3);
  t.states.Pin(3);
  EXPECT_EQ(t.tier.Victim(t.states, 10), 0);
  EXPECT_EQ(t.rng.Next(), SampleRng().Next());  // a scan draws nothing
}

TEST(DeviceTierTest, SampledLfuPrefersLowerCountsOverTheLruSlot) {
  std::vector<uint32_t> counts(64, 1);
  counts[0] = 10;  // the LRU slot is the most used
  Tier t(64, CachePolicy::kLfu, 0, counts);
  const int64_t victim = t.tier.Victim(t.states, 100);
  EXPECT_NE(victim, 0);
  EXPECT_EQ(t.tier.freq(victim), 1u);
  EXPECT_NE(t.rng.Next(), SampleRng().Next());  // sampling drew
}

TEST(DeviceTierTest, SampledLfuBreaksTiesTowardsTheLeastRecentlyUsed) {
  Tier t(64, CachePolicy::kLfu);  // equal counts: the LRU slot beats every sample
  EXPECT_EQ(t.tier.Victim(t.states, 100), 0);
}

TEST(DeviceTierTest, SampledLfuNeverPicksAPinnedSlot) {
  for (uint64_t round = 0; round < 20; ++round) {
    std::vector<uint32_t> counts(40);
    for (size_t s = 0; s < counts.size(); ++s) counts[s] = static_cast<uint32_t>((s * 7 + round) % 5);
    Tier t(40, CachePolicy::kLfu, 0, counts);
    for (int64_t s = 0; s < 40; s += 2) t.states.Pin(s);
    const int64_t victim = t.tier.Victim(t.states, 100);
    EXPECT_FALSE(t.states.Pinned(victim)) << round;
    EXPECT_LE(t.tier.freq(victim), t.tier.freq(1)) << round;  // never worse than the LRU slot
  }
}

TEST(DeviceTierTest, UsePromotesIntoTheHotSetAndCountsHotHits) {
  Tier t(4, CachePolicy::kLru, /*hot=*/1);
  EXPECT_EQ(t.tier.hot_size(), 0);
  t.tier.CountUse(2);  // count 2: the threshold
  EXPECT_FALSE(t.tier.Use(2, 10));  // promoted, not a hit yet
  EXPECT_TRUE(t.tier.hot().Contains(2));
  EXPECT_EQ(t.tier.hot_size(), 1);
  EXPECT_TRUE(t.tier.Use(2, 11));
  t.tier.CountUse(3);
  EXPECT_FALSE(t.tier.Use(3, 12));  // qualifies, but the set is full
  EXPECT_FALSE(t.tier.hot().Contains(3));
}

TEST(DeviceTierTest, HotSlotsAreVictimsOnlyWhenEveryColdSlotIsPinned) {
  for (CachePolicy policy : {CachePolicy::kLru, CachePolicy::kLfu}) {
    Tier t(4, policy, /*hot=*/2);
    t.tier.CountUse(0);
    t.tier.Use(0, 5);  // slot 0: least recently used of all, but hot
    ASSERT_TRUE(t.tier.hot().Contains(0));
    EXPECT_EQ(t.tier.Victim(t.states, 10), 1);
    for (int64_t s : {1, 2, 3}) t.states.Pin(s);
    EXPECT_EQ(t.tier.Victim(t.states, 10), 0);
    EXPECT_FALSE(t.tier.hot().Contains(0));  // it left the hot set
    EXPECT_EQ(t.tier.hot_size(), 0);
  }
}

TEST(DeviceTierTest, HotLfuDrawsAmongColdSlotsOnly) {
  std::vector<uint32_t> counts(40, 1);
  Tier t(40, CachePolicy::kLfu, /*hot=*/30, counts);
  // Slots 1..30 hot, with the lowest counts once their promotion is past.
  for (int64_t s = 1; s <= 30; ++s) {
    t.tier.CountUse(s);
    t.tier.Use(s, 50);
  }
  ASSERT_EQ(t.tier.hot_size(), 30);
  for (int round = 0; round < 10; ++round) {
    const int64_t victim = t.tier.Victim(t.states, 60);
    EXPECT_FALSE(t.tier.hot().Contains(victim)) << victim;
  }
}

TEST(DeviceTierTest, ReleasedSlotsLeaveTheirOrder) {
  Tier t(3, CachePolicy::kLru, /*hot=*/1);
  t.tier.CountUse(1);
  t.tier.Use(1, 9);
  ASSERT_TRUE(t.tier.hot().Contains(1));
  t.tier.Release(1);
  EXPECT_FALSE(t.tier.hot().Contains(1));
  t.tier.Release(0);
  EXPECT_EQ(t.tier.Victim(t.states, 10), 2);  // 0 and 1 are in no order
}

TEST(DeviceTierTest, HbmTierIsInert) {
  SampleRng rng;
  DeviceTier tier(0, CachePolicy::kLru, 0, 1, &rng);
  EXPECT_EQ(tier.slots(), 0);
  tier.Release(12345);  // any slot: nothing to do
  EXPECT_EQ(tier.hot_size(), 0);
  EXPECT_GE(tier.memory_bytes(), 0);
}

}  // namespace
}  // namespace internal
}  // namespace asc
