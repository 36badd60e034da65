// HotSet: promotion at the threshold when there is room, hot hits, taking
// the least recently used unpinned hot slot back, and the window refresh
// (threshold from the device keys' counts, idle and cold slots leaving).
// Hot embedding through a Table: hot_embedding_test.cc.
#include "../core/hot_set.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "../core/slot_states.h"
#include "asc/device_cache.h"

namespace asc {
namespace internal {
namespace {

using Use = HotSet::Use;

TEST(HotSetTest, DisabledSetHoldsNothing) {
  HotSet hot(/*capacity=*/0, /*device_slots=*/8, /*refresh_steps=*/10);
  EXPECT_FALSE(hot.enabled());
  EXPECT_EQ(hot.size(), 0);
  EXPECT_FALSE(hot.Contains(3));
  EXPECT_EQ(hot.memory_bytes(), HotSet(0, 1, 1).memory_bytes());
}

TEST(HotSetTest, PromotesAtTheThresholdWhileThereIsRoom) {
  HotSet hot(/*capacity=*/2, /*device_slots=*/8, /*refresh_steps=*/10);
  EXPECT_EQ(hot.threshold(), HotSet::kMinThreshold);
  EXPECT_EQ(hot.Touch(0, /*freq=*/1, /*time=*/1), Use::kCold);
  EXPECT_FALSE(hot.Contains(0));
  EXPECT_EQ(hot.Touch(0, 2, 2), Use::kPromoted);
  EXPECT_TRUE(hot.Contains(0));
  EXPECT_EQ(hot.Touch(0, 3, 3), Use::kHotHit);
  EXPECT_EQ(hot.Touch(1, 5, 3), Use::kPromoted);
  EXPECT_EQ(hot.size(), 2);
  EXPECT_EQ(hot.Touch(2, 100, 4), Use::kCold);  // full
  EXPECT_FALSE(hot.Contains(2));
  hot.Remove(0);
  EXPECT_FALSE(hot.Contains(0));
  EXPECT_EQ(hot.Touch(2, 100, 5), Use::kPromoted);
}

TEST(HotSetTest, TakeLruUnpinnedSkipsPinnedHotSlots) {
  HotSet hot(3, 8, 10);
  SlotStates states(8);
  ASSERT_EQ(hot.Touch(4, 2, 1), Use::kPromoted);
  ASSERT_EQ(hot.Touch(5, 2, 2), Use::kPromoted);
  ASSERT_EQ(hot.Touch(6, 2, 3), Use::kPromoted);
  states.Pin(4);
  EXPECT_EQ(hot.TakeLruUnpinned(states, 7), 5);
  EXPECT_FALSE(hot.Contains(5));
  EXPECT_EQ(hot.size(), 2);
  states.Pin(6);
  EXPECT_EQ(hot.TakeLruUnpinned(states, 8), -1);
  EXPECT_EQ(hot.size(), 2);
}

TEST(HotSetTest, RefreshOnlyWhenAWindowOpens) {
  HotSet hot(1, 4, /*refresh_steps=*/10);
  DeviceCache cold(4);
  std::vector<uint32_t> freq = {9, 9, 9, 9};
  for (int64_t slot = 0; slot < 4; ++slot) cold.Touch(slot, 1);
  hot.Refresh(5, freq, &cold);  // window 0: the one the set starts in
  EXPECT_EQ(hot.threshold(), HotSet::kMinThreshold);
  hot.Refresh(10, freq, &cold);  // window 1
  EXPECT_EQ(hot.threshold(), 9u);
  freq = {1, 1, 1, 1};
  hot.Refresh(19, freq, &cold);  // still window 1
  EXPECT_EQ(hot.threshold(), 9u);
}

TEST(HotSetTest, RefreshSetsTheThresholdToTheCapacityThLargestCount) {
  HotSet hot(/*capacity=*/2, /*device_slots=*/6, /*refresh_steps=*/1);
  DeviceCache cold(6);
  // Slots 0..4 issued (slot 5 free, its stale count must not count).
  const std::vector<uint32_t> freq = {3, 7, 5, 1, 6, 50};
  for (int64_t slot = 0; slot < 5; ++slot) cold.Touch(slot, 1);
  ASSERT_EQ(hot.Touch(1, 7, 1), Use::kPromoted);
  cold.Remove(1);
  hot.Refresh(2, freq, &cold);
  EXPECT_EQ(hot.threshold(), 6u);  // 7, 6, 5, 3, 1: second largest
  EXPECT_TRUE(hot.Contains(1));    // 7 >= 6 and used within the window
  // Few device keys: the floor.
  HotSet few(4, 6, 1);
  DeviceCache one(6);
  one.Touch(0, 1);
  few.Refresh(2, freq, &one);
  EXPECT_EQ(few.threshold(), HotSet::kMinThreshold);
}

TEST(HotSetTest, IdleAndBelowThresholdSlotsLeaveForTheColdOrder) {
  HotSet hot(/*capacity=*/3, /*device_slots=*/6, /*refresh_steps=*/5);
  DeviceCache cold(6);
  ASSERT_EQ(hot.Touch(1, /*freq=*/9, /*time=*/1), Use::kPromoted);
  ASSERT_EQ(hot.Touch(0, 2, 8), Use::kPromoted);
  ASSERT_EQ(hot.Touch(2, 8, 9), Use::kPromoted);
  cold.Touch(3, 9);
  cold.Touch(4, 9);
  const std::vector<uint32_t> freq = {2, 9, 8, 6, 7, 0};
  hot.Refresh(10, freq, &cold);
  EXPECT_EQ(hot.threshold(), 7u);  // the third largest of 9, 8, 7, 6, 2
  EXPECT_TRUE(hot.Contains(2));    // used within the window, 8 >= 7
  EXPECT_FALSE(hot.Contains(0));   // used within the window, but 2 < 7
  EXPECT_FALSE(hot.Contains(1));   // 9 >= 7, but idle: 1 + 5 < 10
  EXPECT_EQ(hot.size(), 1);
  // Leaving slots stay on the device as the cold order's most recent.
  for (int64_t slot : {0, 1}) {
    ASSERT_TRUE(cold.Contains(slot)) << slot;
    EXPECT_EQ(cold.LastUsed(slot), 9u) << slot;
  }
  EXPECT_FALSE(cold.Contains(2));
}

}  // namespace
}  // namespace internal
}  // namespace asc
