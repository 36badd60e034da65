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

TEST(DeviceCacheTest, VictimIsLeastRecentlyUsedOfEarlierSteps) {
  DeviceCache cache(4);
  EXPECT_EQ(cache.Victim(1), -1);  // empty
  cache.Touch(0, 1);
  cache.Touch(1, 1);
  cache.Touch(2, 1);
  EXPECT_EQ(cache.size(), 3);
  EXPECT_EQ(cache.Victim(1), -1);  // all pinned by step 1
  EXPECT_EQ(cache.PinnedIn(1), 3);
  EXPECT_EQ(cache.Victim(2), 0);
  cache.Touch(0, 2);
  EXPECT_EQ(cache.Victim(2), 1);
  EXPECT_EQ(cache.PinnedIn(2), 1);
  EXPECT_EQ(cache.PinnedIn(1), 0);  // an older step pins nothing any more
  cache.Remove(1);
  EXPECT_FALSE(cache.Contains(1));
  EXPECT_EQ(cache.Victim(2), 2);
  cache.Touch(2, 2);
  EXPECT_EQ(cache.Victim(2), -1);
  EXPECT_EQ(cache.Victim(3), 0);  // slot 0 was touched first in step 2
  cache.Touch(0, 2);              // touching again in the same step counts once
  EXPECT_EQ(cache.PinnedIn(2), 2);
  cache.Remove(0);
  EXPECT_EQ(cache.PinnedIn(2), 1);
  EXPECT_EQ(cache.size(), 1);
}

// Against a std::list model, with steps advancing at random; with and
// without the member index.
class DeviceCacheModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(DeviceCacheModelTest, MatchesReferenceModel) {
  constexpr int64_t kSlots = 50;
  DeviceCache cache(kSlots, /*indexed=*/GetParam());
  std::list<int64_t> order;  // front = LRU
  std::map<int64_t, uint64_t> last_used;
  std::mt19937_64 rng(7);
  uint64_t step = 1;
  for (int iter = 0; iter < 20000; ++iter) {
    if (rng() % 20 == 0) ++step;
    const int64_t slot = static_cast<int64_t>(rng() % kSlots);
    if (rng() % 4 == 0) {
      if (last_used.count(slot) != 0) {
        cache.Remove(slot);
        order.remove(slot);
        last_used.erase(slot);
      }
    } else {
      cache.Touch(slot, step);
      order.remove(slot);
      order.push_back(slot);
      last_used[slot] = step;
    }
    ASSERT_EQ(cache.size(), static_cast<int64_t>(order.size()));
    const int64_t expected =
        order.empty() || last_used[order.front()] == step ? -1 : order.front();
    ASSERT_EQ(cache.Victim(step), expected);
    int64_t pinned = 0;
    for (const auto& kv : last_used) pinned += kv.second == step;
    ASSERT_EQ(cache.PinnedIn(step), pinned);
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
