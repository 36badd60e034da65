// SampleRng: the SplitMix64 sequence a table's sampled policies draw from.
// The sequence is part of a table's deterministic behaviour (which victims
// it picks), so it is pinned to the reference values here.
#include "../core/sample_rng.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace asc {
namespace internal {
namespace {

TEST(SampleRngTest, MatchesTheSplitMix64ReferenceSequence) {
  // splitmix64.c (Vigna) seeded with 0.
  SampleRng rng(0);
  EXPECT_EQ(rng.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.Next(), 0x06c45d188009454fULL);
}

TEST(SampleRngTest, DefaultSeedContinuesTheReferenceSequence) {
  // The default seed is one SplitMix64 increment, so a table's first draw is
  // the reference sequence's second value.
  SampleRng rng;
  EXPECT_EQ(rng.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.Next(), 0x06c45d188009454fULL);
}

TEST(SampleRngTest, SameSeedSameDraws) {
  SampleRng a(42);
  SampleRng b(42);
  SampleRng c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace internal
}  // namespace asc
