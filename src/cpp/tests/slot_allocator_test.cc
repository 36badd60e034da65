#include "asc/slot_allocator.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace asc {
namespace {

TEST(SlotAllocatorTest, IssuesFreshSlotsInOrder) {
  SlotAllocator a(4);
  EXPECT_EQ(a.available(), 4);
  for (int64_t expected = 0; expected < 4; ++expected) EXPECT_EQ(a.Allocate(), expected);
  EXPECT_EQ(a.used(), 4);
  EXPECT_EQ(a.available(), 0);
}

TEST(SlotAllocatorTest, ReusesReleasedSlotsLastInFirstOut) {
  SlotAllocator a(8);
  for (int i = 0; i < 5; ++i) (void)a.Allocate();
  a.Release(1);
  a.Release(3);
  EXPECT_EQ(a.used(), 3);
  EXPECT_EQ(a.available(), 5);
  EXPECT_EQ(a.Allocate(), 3);
  EXPECT_EQ(a.Allocate(), 1);
  EXPECT_EQ(a.Allocate(), 5);  // free list empty: back to the high-water mark
  EXPECT_EQ(a.used(), 6);
}

TEST(SlotAllocatorTest, GrowKeepsIssuedSlotsAndExtendsRange) {
  SlotAllocator a(2);
  EXPECT_EQ(a.Allocate(), 0);
  EXPECT_EQ(a.Allocate(), 1);
  a.Release(0);
  a.Grow(5);
  EXPECT_EQ(a.capacity(), 5);
  EXPECT_EQ(a.available(), 4);
  std::set<int64_t> issued = {1};
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(issued.insert(a.Allocate()).second);
  EXPECT_EQ(issued, (std::set<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(a.available(), 0);
}

TEST(SlotAllocatorTest, EverySlotBelowCapacityUnderChurn) {
  SlotAllocator a(64);
  std::vector<int64_t> held;
  for (int round = 0; round < 1000; ++round) {
    if (a.available() > 0 && (round % 3 != 0 || held.empty())) {
      const int64_t s = a.Allocate();
      ASSERT_GE(s, 0);
      ASSERT_LT(s, a.capacity());
      held.push_back(s);
    } else {
      a.Release(held[round % held.size()]);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(round % held.size()));
    }
    ASSERT_EQ(a.used(), static_cast<int64_t>(held.size()));
    ASSERT_EQ(std::set<int64_t>(held.begin(), held.end()).size(), held.size()) << "slot issued twice";
  }
}

}  // namespace
}  // namespace asc
