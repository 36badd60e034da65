#include "asc/host_tier.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

namespace asc {
namespace {

TEST(HostTierTest, AllocatesDistinctRowsThatKeepTheirData) {
  HostTier tier(/*row_width=*/3, /*capacity=*/100);
  EXPECT_EQ(tier.size(), 0);
  EXPECT_EQ(tier.memory_bytes(), 0);
  std::vector<int64_t> rows;
  for (int i = 0; i < 100; ++i) {
    rows.push_back(tier.Allocate());
    float* r = tier.Row(rows.back());
    for (int c = 0; c < 3; ++c) r[c] = static_cast<float>(i * 10 + c);
  }
  EXPECT_EQ(tier.size(), 100);
  EXPECT_EQ(tier.available(), 0);
  EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()).size(), 100u);
  for (int i = 0; i < 100; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(tier.Row(rows[i])[c], static_cast<float>(i * 10 + c));
  }
}

TEST(HostTierTest, ReleasedRowsAreReusedLastInFirstOut) {
  HostTier tier(2, 10);
  const int64_t a = tier.Allocate();
  const int64_t b = tier.Allocate();
  const int64_t c = tier.Allocate();
  tier.Release(a);
  tier.Release(c);
  EXPECT_EQ(tier.size(), 1);
  EXPECT_EQ(tier.Allocate(), c);
  EXPECT_EQ(tier.Allocate(), a);
  EXPECT_NE(tier.Allocate(), b);
  EXPECT_EQ(tier.size(), 4);
}

TEST(HostTierTest, MemoryGrowsByChunksAndRowsNeverMove) {
  HostTier tier(4, int64_t{1} << 20);
  EXPECT_EQ(tier.rows_per_chunk(), int64_t{1} << 14);
  const int64_t first = tier.Allocate();
  const float* first_ptr = tier.Row(first);
  const int64_t one_chunk = tier.memory_bytes();
  EXPECT_GE(one_chunk, tier.rows_per_chunk() * 4 * 4);
  for (int64_t i = 1; i < tier.rows_per_chunk(); ++i) tier.Allocate();
  EXPECT_LT(tier.memory_bytes(), 2 * tier.rows_per_chunk() * 16);  // still one chunk
  tier.Allocate();                                                  // starts chunk two
  EXPECT_GE(tier.memory_bytes(), 2 * tier.rows_per_chunk() * 16);
  EXPECT_EQ(tier.Row(first), first_ptr);
}

TEST(HostTierTest, ChunkSizeFollowsCapacityAndRowWidth) {
  EXPECT_EQ(HostTier(4, 10).rows_per_chunk(), 16);  // a small tier pays for little
  EXPECT_EQ(HostTier(4, 1).rows_per_chunk(), 1);
  // Wide rows: a chunk stays within a few MiB.
  HostTier wide(8192 * 16, 1000);
  EXPECT_LE(wide.rows_per_chunk() * 8192 * 16 * 4, int64_t{8} << 20);
  EXPECT_GE(wide.rows_per_chunk(), 1);
}

}  // namespace
}  // namespace asc
