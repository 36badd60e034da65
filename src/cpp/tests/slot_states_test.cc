// SlotStates: per device slot pins and flags, the pinned-slot count, what
// the last Unpin leaves to do, counting within a call; and LruUnpinned.
#include "../core/slot_states.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "asc/device_cache.h"

namespace asc {
namespace internal {
namespace {

using Unpinned = SlotStates::Unpinned;

TEST(SlotStatesTest, StartsUnpinnedWithoutFlags) {
  SlotStates s(3);
  EXPECT_EQ(s.capacity(), 3);
  EXPECT_EQ(s.pinned_slots(), 0);
  for (int64_t slot = 0; slot < 3; ++slot) {
    EXPECT_FALSE(s.Pinned(slot));
    EXPECT_FALSE(s.Uninit(slot));
    EXPECT_FALSE(s.Provisional(slot));
  }
}

TEST(SlotStatesTest, PinnedSlotsCountsSlotsNotPins) {
  SlotStates s(4);
  s.Pin(1);
  s.Pin(1);
  s.Pin(2);
  EXPECT_EQ(s.pinned_slots(), 2);
  EXPECT_EQ(s.Unpin(1), Unpinned::kStillPinned);
  EXPECT_TRUE(s.Pinned(1));
  EXPECT_EQ(s.pinned_slots(), 2);
  EXPECT_EQ(s.Unpin(1), Unpinned::kKeep);
  EXPECT_FALSE(s.Pinned(1));
  EXPECT_EQ(s.pinned_slots(), 1);
  EXPECT_EQ(s.Unpin(2), Unpinned::kKeep);
  EXPECT_EQ(s.pinned_slots(), 0);
}

TEST(SlotStatesTest, NewKeyIsUninitAndProvisionalUntilWrittenAndAdopted) {
  SlotStates s(2);
  s.AssignNewKey(0);
  EXPECT_TRUE(s.Uninit(0));
  EXPECT_TRUE(s.Provisional(0));
  s.Pin(0);
  s.MarkWritten(0);
  EXPECT_FALSE(s.Uninit(0));
  EXPECT_TRUE(s.Provisional(0));
  s.Adopt(0);
  EXPECT_FALSE(s.Provisional(0));
  EXPECT_TRUE(s.Pinned(0));  // flags leave the pins alone
  EXPECT_EQ(s.Unpin(0), Unpinned::kKeep);
  s.AssignMovedKey(1);
  EXPECT_FALSE(s.Uninit(1));
  EXPECT_FALSE(s.Provisional(1));
}

TEST(SlotStatesTest, LastUnpinOfAnUnwrittenRowErasesTheKey) {
  SlotStates s(1);
  s.AssignNewKey(0);
  s.Pin(0);
  s.Pin(0);
  EXPECT_EQ(s.Unpin(0), Unpinned::kStillPinned);
  EXPECT_EQ(s.Unpin(0), Unpinned::kEraseKey);
  EXPECT_EQ(s.pinned_slots(), 0);
}

TEST(SlotStatesTest, ErasedWhilePinnedFreesAtTheLastUnpinAndWinsOverUninit) {
  SlotStates s(1);
  s.AssignNewKey(0);
  s.Pin(0);
  s.Pin(0);
  s.MarkErased(0);
  EXPECT_TRUE(s.Pinned(0));
  EXPECT_FALSE(s.Uninit(0));
  EXPECT_FALSE(s.Provisional(0));
  EXPECT_EQ(s.Unpin(0), Unpinned::kStillPinned);
  EXPECT_EQ(s.Unpin(0), Unpinned::kFree);
  s.Reset(0);
  EXPECT_FALSE(s.Pinned(0));
  EXPECT_EQ(s.pinned_slots(), 0);
}

TEST(SlotStatesTest, CountOnceSkipsPinnedAndRepeatedSlots) {
  SlotStates s(3);
  s.Pin(2);
  EXPECT_TRUE(s.CountOnce(0));
  EXPECT_FALSE(s.CountOnce(0));  // a repeated key of the same call
  EXPECT_FALSE(s.CountOnce(2));  // pinned already
  EXPECT_FALSE(s.Pinned(0));     // counting is not pinning
  s.ClearCount(0);
  EXPECT_TRUE(s.CountOnce(0));
  s.ClearCount(0);
  s.Pin(0);
  EXPECT_EQ(s.Unpin(0), Unpinned::kKeep);  // the count bit is not a pin
}

TEST(SlotStatesTest, GrowAddsFreshSlotsAndKeepsOldOnes) {
  SlotStates s(2);
  s.AssignNewKey(1);
  s.Pin(1);
  s.Grow(5);
  EXPECT_EQ(s.capacity(), 5);
  EXPECT_TRUE(s.Pinned(1));
  EXPECT_TRUE(s.Uninit(1));
  EXPECT_FALSE(s.Pinned(4));
  EXPECT_FALSE(s.Uninit(4));
  EXPECT_EQ(s.pinned_slots(), 1);
  EXPECT_GE(s.memory_bytes(), 5 * 4);
}

TEST(SlotStatesTest, LruUnpinnedSkipsPinnedSlotsAndMakesThemRecent) {
  SlotStates s(4);
  DeviceCache order(4);
  for (int64_t slot = 0; slot < 4; ++slot) order.Touch(slot, 1);  // LRU: 0 1 2 3
  s.Pin(0);
  s.Pin(1);
  EXPECT_EQ(LruUnpinned(&order, s, 9), 2);
  // 0 and 1 moved to the MRU end at time 9; 2 itself stays where it was.
  EXPECT_EQ(order.Victim(), 2);
  EXPECT_EQ(order.LastUsed(0), 9u);
  EXPECT_EQ(order.LastUsed(1), 9u);
  EXPECT_EQ(order.LastUsed(2), 1u);
}

TEST(SlotStatesTest, LruUnpinnedIsMinusOneWhenEverySlotIsPinned) {
  SlotStates s(2);
  DeviceCache order(2);
  order.Touch(0, 1);
  order.Touch(1, 2);
  s.Pin(0);
  s.Pin(1);
  EXPECT_EQ(LruUnpinned(&order, s, 5), -1);
  EXPECT_EQ(order.size(), 2);
  DeviceCache empty(2);
  EXPECT_EQ(LruUnpinned(&empty, s, 5), -1);
}

}  // namespace
}  // namespace internal
}  // namespace asc
