#include "asc/device_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <map>
#include <random>
#include <vector>

namespace asc {
namespace {

std::vector<int64_t> Order(const DeviceCache& cache) {
  std::vector<int64_t> order;
  cache.ForEach([&](int64_t s) { order.push_back(s); });
  return order;
}

// Victim is the least recently used slot, whatever the times passed: pins
// are the owner's business now.
TEST(DeviceCacheTest, VictimIsTheLeastRecentlyUsedSlot) {
  DeviceCache cache(4);
  EXPECT_EQ(cache.capacity(), 4);
  EXPECT_EQ(cache.Victim(), -1);  // empty
  cache.Touch(0, 1);
  cache.Touch(1, 1);
  cache.Touch(2, 1);
  EXPECT_EQ(cache.size(), 3);
  EXPECT_EQ(cache.Victim(), 0);  // used in the latest step, still a candidate
  EXPECT_EQ(cache.Victim(), 0);  // Victim does not remove it
  EXPECT_EQ(cache.size(), 3);
  cache.Touch(0, 2);
  EXPECT_EQ(cache.Victim(), 1);
  EXPECT_EQ(cache.LastUsed(0), 2u);
  EXPECT_EQ(cache.LastUsed(1), 1u);
  EXPECT_EQ(Order(cache), (std::vector<int64_t>{1, 2, 0}));
  cache.Remove(1);
  EXPECT_FALSE(cache.Contains(1));
  EXPECT_TRUE(cache.Contains(2));
  EXPECT_FALSE(cache.Contains(3));
  EXPECT_EQ(cache.Victim(), 2);
  // Touch moves a slot to the most recent end even with an older time (an
  // older step may still be using it).
  cache.Touch(2, 1);
  EXPECT_EQ(cache.Victim(), 0);
  EXPECT_EQ(cache.LastUsed(2), 1u);
  EXPECT_EQ(Order(cache), (std::vector<int64_t>{0, 2}));
  cache.Touch(1, 7);  // back in after removal
  EXPECT_EQ(Order(cache), (std::vector<int64_t>{0, 2, 1}));
  cache.Remove(0);
  cache.Remove(2);
  cache.Remove(1);
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.Victim(), -1);
  EXPECT_TRUE(Order(cache).empty());
  EXPECT_GT(cache.memory_bytes(), 0);
  EXPECT_GT(DeviceCache(4, /*indexed=*/true).memory_bytes(), cache.memory_bytes());
}

TEST(DeviceCacheTest, EmptyCache) {
  DeviceCache cache(0);
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.Victim(), -1);
  EXPECT_TRUE(Order(cache).empty());
}

// Against a std::list model, with times advancing at random; with and
// without the member index.
class DeviceCacheModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(DeviceCacheModelTest, MatchesReferenceModel) {
  constexpr int64_t kSlots = 50;
  DeviceCache cache(kSlots, /*indexed=*/GetParam());
  std::list<int64_t> order;  // front = LRU
  std::map<int64_t, uint64_t> last_used;
  std::mt19937_64 rng(7);
  uint64_t time = 1;
  for (int iter = 0; iter < 20000; ++iter) {
    if (rng() % 20 == 0) ++time;
    const int64_t slot = static_cast<int64_t>(rng() % kSlots);
    if (rng() % 4 == 0) {
      if (last_used.count(slot) != 0) {
        cache.Remove(slot);
        order.remove(slot);
        last_used.erase(slot);
      }
    } else {
      // Sometimes an older time, as a step that began earlier touches.
      const uint64_t t = rng() % 8 == 0 && time > 3 ? time - 3 : time;
      cache.Touch(slot, t);
      order.remove(slot);
      order.push_back(slot);
      last_used[slot] = t;
    }
    ASSERT_EQ(cache.size(), static_cast<int64_t>(order.size()));
    ASSERT_EQ(cache.Victim(), order.empty() ? -1 : order.front());
    for (int64_t s = 0; s < kSlots; ++s) {
      ASSERT_EQ(cache.Contains(s), last_used.count(s) == 1) << s;
      if (last_used.count(s) == 1) {
        ASSERT_EQ(cache.LastUsed(s), last_used[s]) << s;
      }
    }
    if (iter % 500 == 0) {
      std::list<int64_t> visited;
      cache.ForEach([&](int64_t s) { visited.push_back(s); });
      ASSERT_EQ(visited, order);  // least recently used first
    }
    if (GetParam()) {  // the members are the cached slots, each once
      std::vector<int64_t> members;
      for (int64_t i = 0; i < cache.size(); ++i) members.push_back(cache.Member(i));
      std::sort(members.begin(), members.end());
      std::vector<int64_t> cached(order.begin(), order.end());
      std::sort(cached.begin(), cached.end());
      ASSERT_EQ(members, cached);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Index, DeviceCacheModelTest, ::testing::Bool());

}  // namespace
}  // namespace asc
