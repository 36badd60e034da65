// HostStore: host rows with their owner keys and counts, Reset for a new
// row width, and demotion sampling (held rows only, none excluded in the
// epoch, each victim once). Demotion through a Table: table_ssd_test.cc.
#include "../core/host_store.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "../core/sample_rng.h"

namespace asc {
namespace internal {
namespace {

TEST(HostStoreTest, RowsKeepTheirKeyCountAndData) {
  SampleRng rng;
  HostStore host(/*row_width=*/3, /*capacity=*/4, &rng);
  EXPECT_EQ(host.row_width(), 3);
  EXPECT_EQ(host.capacity(), 4);
  const int64_t a = host.Allocate(/*key=*/11, /*freq=*/5);
  const int64_t b = host.Allocate(22, 1);
  EXPECT_EQ(host.size(), 2);
  EXPECT_EQ(host.key(a), 11);
  EXPECT_EQ(host.freq(a), 5u);
  EXPECT_EQ(host.key(b), 22);
  host.Row(b)[2] = 7.5f;
  EXPECT_EQ(static_cast<const HostStore&>(host).Row(b)[2], 7.5f);
  host.Release(a);
  EXPECT_EQ(host.size(), 1);
  const int64_t c = host.Allocate(33, 2);  // reuses a's row
  EXPECT_EQ(c, a);
  EXPECT_EQ(host.key(c), 33);
  EXPECT_EQ(host.freq(c), 2u);
  EXPECT_GT(host.memory_bytes(), 0);
}

TEST(HostStoreTest, ResetChangesTheRowWidthOfAnEmptyStore) {
  SampleRng rng;
  HostStore host(2, 8, &rng);
  host.Release(host.Allocate(1, 1));
  host.Reset(5);
  EXPECT_EQ(host.row_width(), 5);
  EXPECT_EQ(host.capacity(), 8);
  EXPECT_EQ(host.size(), 0);
  const int64_t row = host.Allocate(9, 3);
  EXPECT_EQ(row, 0);
  host.Row(row)[4] = 1.0f;
  EXPECT_EQ(host.key(row), 9);
}

TEST(HostStoreTest, DemotionPicksEachHeldRowAtMostOncePerEpoch) {
  SampleRng rng;
  HostStore host(1, 16, &rng);
  for (int64_t k = 0; k < 10; ++k) host.Allocate(100 + k, 1);
  host.Release(3);
  host.Release(7);
  host.BeginDemotion();
  host.Exclude(0);
  host.Exclude(9);
  std::set<int64_t> picked;
  for (int i = 0; i < 6; ++i) picked.insert(host.SampleDemotionVictim());
  // Every candidate (held, not excluded) picked once: 1 2 4 5 6 8.
  EXPECT_EQ(picked, (std::set<int64_t>{1, 2, 4, 5, 6, 8}));
  // A new epoch makes every held row a candidate again.
  host.BeginDemotion();
  const int64_t again = host.SampleDemotionVictim();
  EXPECT_TRUE(again != 3 && again != 7) << again;
}

TEST(HostStoreTest, DemotionPrefersTheLowerCountAmongItsSamples) {
  SampleRng rng;
  HostStore host(1, 4, &rng);
  const int64_t often = host.Allocate(1, 50);
  const int64_t rarely = host.Allocate(2, 1);
  host.BeginDemotion();
  // Two candidates, up to 16 samples in 64 draws: both are seen.
  EXPECT_EQ(host.SampleDemotionVictim(), rarely);
  EXPECT_EQ(host.SampleDemotionVictim(), often);
}

TEST(HostStoreTest, DemotionDrawsFromTheSharedGenerator) {
  SampleRng shared;
  HostStore host(1, 64, &shared);
  for (int64_t k = 0; k < 64; ++k) host.Allocate(k, static_cast<uint32_t>(k % 3));
  host.BeginDemotion();
  host.SampleDemotionVictim();
  EXPECT_NE(shared.Next(), SampleRng().Next());
  // Same generator state, same victims.
  SampleRng r1(7), r2(7);
  HostStore h1(1, 64, &r1), h2(1, 64, &r2);
  for (int64_t k = 0; k < 64; ++k) {
    h1.Allocate(k, static_cast<uint32_t>(k % 5));
    h2.Allocate(k, static_cast<uint32_t>(k % 5));
  }
  h1.BeginDemotion();
  h2.BeginDemotion();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(h1.SampleDemotionVictim(), h2.SampleDemotionVictim());
}

}  // namespace
}  // namespace internal
}  // namespace asc
