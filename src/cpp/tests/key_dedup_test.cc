#include "asc/key_dedup.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace asc {
namespace {

template <typename K>
struct Dedup {
  std::vector<K> unique;
  std::vector<int32_t> counts;
  std::vector<int32_t> restore;
};

template <typename K>
Dedup<K> RunDedup(const std::vector<K>& keys) {
  const int64_t n = static_cast<int64_t>(keys.size());
  Dedup<K> d{std::vector<K>(n), std::vector<int32_t>(n), std::vector<int32_t>(n)};
  const int64_t u = DedupKeys<K>(n, keys.data(), d.unique.data(), d.counts.data(), d.restore.data());
  d.unique.resize(u);
  d.counts.resize(u);
  return d;
}

// Checks the result against an independent std::unordered_map computation.
template <typename K>
void ExpectMatchesReference(const std::vector<K>& keys, const Dedup<K>& d) {
  std::unordered_map<K, int32_t> index;
  std::vector<K> unique;
  std::vector<int32_t> counts;
  for (K k : keys) {
    auto [it, inserted] = index.try_emplace(k, static_cast<int32_t>(unique.size()));
    if (inserted) {
      unique.push_back(k);
      counts.push_back(0);
    }
    ++counts[it->second];
  }
  ASSERT_EQ(d.unique, unique);
  ASSERT_EQ(d.counts, counts);
  ASSERT_EQ(d.restore.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(d.unique[d.restore[i]], keys[i]) << "at " << i;
  }
}

template <typename K>
class KeyDedupTypedTest : public ::testing::Test {};
using KeyTypes = ::testing::Types<int32_t, int64_t>;
TYPED_TEST_SUITE(KeyDedupTypedTest, KeyTypes);

TYPED_TEST(KeyDedupTypedTest, UniqueKeysInOrderOfFirstOccurrence) {
  using K = TypeParam;
  const std::vector<K> keys = {5, 3, 5, 1, 3, 3, 9};
  const Dedup<K> d = RunDedup(keys);
  EXPECT_EQ(d.unique, (std::vector<K>{5, 3, 1, 9}));
  EXPECT_EQ(d.counts, (std::vector<int32_t>{2, 3, 1, 1}));
  EXPECT_EQ(d.restore, (std::vector<int32_t>{0, 1, 0, 2, 1, 1, 3}));
}

TYPED_TEST(KeyDedupTypedTest, EmptyBatchWritesNothing) {
  using K = TypeParam;
  K unique[1] = {42};
  int32_t counts[1] = {-7};
  int32_t restore[1] = {-7};
  EXPECT_EQ(DedupKeys<K>(0, nullptr, unique, counts, restore), 0);
  EXPECT_EQ(unique[0], 42);
  EXPECT_EQ(counts[0], -7);
  EXPECT_EQ(restore[0], -7);
}

TYPED_TEST(KeyDedupTypedTest, ExtremeKeys) {
  using K = TypeParam;
  const K lo = std::numeric_limits<K>::min();
  const K hi = std::numeric_limits<K>::max();
  const std::vector<K> keys = {hi, 0, lo, -1, lo, hi, 0, 1, lo};
  const Dedup<K> d = RunDedup(keys);
  EXPECT_EQ(d.unique, (std::vector<K>{hi, 0, lo, -1, 1}));
  EXPECT_EQ(d.counts, (std::vector<int32_t>{2, 2, 3, 1, 1}));
  ExpectMatchesReference(keys, d);
}

TYPED_TEST(KeyDedupTypedTest, AllEqualAndAllDistinct) {
  using K = TypeParam;
  const std::vector<K> same(1000, 7);
  const Dedup<K> d1 = RunDedup(same);
  EXPECT_EQ(d1.unique, std::vector<K>{7});
  EXPECT_EQ(d1.counts, std::vector<int32_t>{1000});

  std::vector<K> distinct(1000);
  for (int i = 0; i < 1000; ++i) distinct[i] = static_cast<K>(999 - i);
  const Dedup<K> d2 = RunDedup(distinct);
  EXPECT_EQ(d2.unique, distinct);
  EXPECT_EQ(d2.counts, std::vector<int32_t>(1000, 1));
}

TYPED_TEST(KeyDedupTypedTest, LargeRandomBatchMatchesReference) {
  using K = TypeParam;
  std::mt19937_64 rng(7);
  // Few distinct values relative to n: long duplicate runs and probe chains.
  std::uniform_int_distribution<int64_t> pick(-30000, 30000);
  std::vector<K> keys(200000);
  for (K& k : keys) k = static_cast<K>(pick(rng));
  ExpectMatchesReference(keys, RunDedup(keys));
}

TEST(KeyDedupTest, KeysSharingLowBitsStillSpread) {
  // Ids that differ only in high bits are common (shifted or packed ids); a
  // weak hash would put them all in one bucket.
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < 5000; ++i) keys.push_back(i << 40);
  for (int64_t i = 0; i < 5000; ++i) keys.push_back(i << 40);
  const Dedup<int64_t> d = RunDedup(keys);
  EXPECT_EQ(d.unique.size(), 5000u);
  ExpectMatchesReference(keys, d);
}

TEST(KeyDedupTest, NullOutputsAreSkipped) {
  const std::vector<int64_t> keys = {4, 4, 8, 4, 15};
  EXPECT_EQ(DedupKeys<int64_t>(5, keys.data(), nullptr, nullptr, nullptr), 3);

  std::vector<int32_t> restore(5, -1);
  EXPECT_EQ(DedupKeys<int64_t>(5, keys.data(), nullptr, nullptr, restore.data()), 3);
  EXPECT_EQ(restore, (std::vector<int32_t>{0, 0, 1, 0, 2}));

  std::vector<int32_t> counts(5, -1);
  EXPECT_EQ(DedupKeys<int64_t>(5, keys.data(), nullptr, counts.data(), nullptr), 3);
  EXPECT_EQ((std::vector<int32_t>(counts.begin(), counts.begin() + 3)), (std::vector<int32_t>{3, 1, 1}));
}

TEST(KeyDedupTest, ScratchReuseAcrossBatchSizes) {
  // The thread-local scratch outlives calls: a small batch after a large one
  // must not see the large batch's keys, and repeated calls must not leak state.
  std::mt19937_64 rng(11);
  for (int64_t n : {100000, 3, 1, 70000, 17, 0, 100000, 5}) {
    std::vector<int64_t> keys(n);
    for (int64_t& k : keys) k = static_cast<int64_t>(rng() % 997);
    ExpectMatchesReference(keys, RunDedup(keys));
  }
  for (int round = 0; round < 1000; ++round) {
    const std::vector<int64_t> keys = {round, round + 1, round};
    const Dedup<int64_t> d = RunDedup(keys);
    ASSERT_EQ(d.unique, (std::vector<int64_t>{round, round + 1}));
  }
}

TEST(KeyDedupTest, ConcurrentCallsFromManyThreads) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      std::mt19937_64 rng(100 + t);
      for (int round = 0; round < 20; ++round) {
        std::vector<int64_t> keys(5000 + t * 1000);
        for (int64_t& k : keys) k = static_cast<int64_t>(rng() % 3000) * (t + 1);
        const Dedup<int64_t> d = RunDedup(keys);
        const std::unordered_set<int64_t> distinct(keys.begin(), keys.end());
        if (d.unique.size() != distinct.size()) ++failures[t];
        for (size_t i = 0; i < keys.size(); ++i) {
          if (d.unique[d.restore[i]] != keys[i]) ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace asc
