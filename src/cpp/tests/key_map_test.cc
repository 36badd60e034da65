#include "asc/key_map.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "../core/hash_mix.h"

namespace asc {
namespace {

constexpr int64_t kNoSlot = KeySlotMap::kNoSlot;

int64_t FindOne(const KeySlotMap& m, int64_t key) {
  int64_t slot = -2;
  m.FindBatch(1, &key, &slot);
  return slot;
}

void InsertOne(KeySlotMap* m, int64_t key, int64_t slot) { m->InsertBatch(1, &key, &slot); }

int64_t EraseOne(KeySlotMap* m, int64_t key) {
  int64_t slot = -2;
  m->EraseBatch(1, &key, &slot);
  return slot;
}

std::map<int64_t, int64_t> Contents(const KeySlotMap& m) {
  std::map<int64_t, int64_t> out;
  m.ForEach([&](int64_t k, int64_t s) { EXPECT_TRUE(out.emplace(k, s).second) << "key twice: " << k; });
  return out;
}

TEST(KeySlotMapTest, InsertFindErase) {
  KeySlotMap m;
  const std::vector<int64_t> keys = {1, 2, 3, -5, 1000000007};
  const std::vector<int64_t> slots = {10, 20, 30, 40, 50};
  m.InsertBatch(5, keys.data(), slots.data());
  EXPECT_EQ(m.size(), 5);

  std::vector<int64_t> found(6);
  const std::vector<int64_t> probe = {3, 4, -5, 1, 1000000007, 2};
  m.FindBatch(6, probe.data(), found.data());
  EXPECT_EQ(found, (std::vector<int64_t>{30, kNoSlot, 40, 10, 50, 20}));

  std::vector<int64_t> removed(3);
  const std::vector<int64_t> gone = {2, 99, -5};
  EXPECT_EQ(m.EraseBatch(3, gone.data(), removed.data()), 2);
  EXPECT_EQ(removed, (std::vector<int64_t>{20, kNoSlot, 40}));
  EXPECT_EQ(m.size(), 3);
  EXPECT_EQ(Contents(m), (std::map<int64_t, int64_t>{{1, 10}, {3, 30}, {1000000007, 50}}));
  EXPECT_EQ(m.EraseBatch(3, gone.data(), nullptr), 0);
}

TEST(KeySlotMapTest, InsertLeavesPresentKeysUntouched) {
  KeySlotMap m;
  InsertOne(&m, 7, 70);
  const std::vector<int64_t> keys = {7, 8};
  const std::vector<int64_t> slots = {700, 80};
  m.InsertBatch(2, keys.data(), slots.data());
  EXPECT_EQ(FindOne(m, 7), 70);
  EXPECT_EQ(FindOne(m, 8), 80);
  EXPECT_EQ(m.size(), 2);
}

TEST(KeySlotMapTest, InsertOrAssignOverwritesPresentKeys) {
  KeySlotMap m;
  InsertOne(&m, 7, 70);
  InsertOne(&m, KeySlotMap::kEmptyKey, 1);
  const std::vector<int64_t> keys = {7, 8, KeySlotMap::kEmptyKey};
  const std::vector<int64_t> slots = {700, 80, 2};
  m.InsertOrAssignBatch(3, keys.data(), slots.data());
  EXPECT_EQ(FindOne(m, 7), 700);
  EXPECT_EQ(FindOne(m, 8), 80);
  EXPECT_EQ(FindOne(m, KeySlotMap::kEmptyKey), 2);
  EXPECT_EQ(m.size(), 3);
}

TEST(KeySlotMapTest, EraseThenReinsertGetsNewSlot) {
  KeySlotMap m;
  InsertOne(&m, 42, 1);
  EXPECT_EQ(EraseOne(&m, 42), 1);
  EXPECT_EQ(FindOne(m, 42), kNoSlot);
  EXPECT_EQ(EraseOne(&m, 42), kNoSlot);
  InsertOne(&m, 42, 2);
  EXPECT_EQ(FindOne(m, 42), 2);
  EXPECT_EQ(m.size(), 1);
}

TEST(KeySlotMapTest, ConstructorSizesForLoadFactor) {
  EXPECT_EQ(KeySlotMap(0).bucket_count(), 16);
  // 1000 keys at load <= 0.75 need >= 1334 buckets: 2048.
  EXPECT_EQ(KeySlotMap(1000).bucket_count(), 2048);
  // 1536 keys fit 2048 buckets exactly at 0.75.
  EXPECT_EQ(KeySlotMap(1536).bucket_count(), 2048);
  EXPECT_EQ(KeySlotMap(1537).bucket_count(), 4096);
}

TEST(KeySlotMapTest, RehashKeepsEveryEntryAndLoadBound) {
  KeySlotMap m;
  int64_t last_buckets = m.bucket_count();
  std::vector<int64_t> keys, slots;
  for (int64_t i = 0; i < 100000; ++i) {
    const int64_t key = i * 7919 - 300000;
    InsertOne(&m, key, i);
    keys.push_back(key);
    slots.push_back(i);
    ASSERT_LE(m.size() * 4, m.bucket_count() * 3) << "load factor above 0.75 at " << i;
    if (m.bucket_count() != last_buckets) {
      ASSERT_EQ(m.bucket_count(), last_buckets * 2) << "rehash must double";
      last_buckets = m.bucket_count();
    }
  }
  EXPECT_EQ(m.size(), 100000);
  // 100000 > 0.75 * 131072, so one more doubling.
  EXPECT_EQ(m.bucket_count(), 262144);
  EXPECT_EQ(m.memory_bytes(), 262144 * 16);
  std::vector<int64_t> found(keys.size());
  m.FindBatch(static_cast<int64_t>(keys.size()), keys.data(), found.data());
  EXPECT_EQ(found, slots);
}

TEST(KeySlotMapTest, RehashInsideOneBatch) {
  KeySlotMap m;
  std::vector<int64_t> keys(5000), slots(5000);
  for (int64_t i = 0; i < 5000; ++i) {
    keys[i] = i * i;
    slots[i] = 5000 - i;
  }
  m.InsertBatch(5000, keys.data(), slots.data());
  EXPECT_EQ(m.size(), 5000);
  std::vector<int64_t> found(5000);
  m.FindBatch(5000, keys.data(), found.data());
  EXPECT_EQ(found, slots);
}

TEST(KeySlotMapTest, PresentKeysNeverTriggerRehash) {
  KeySlotMap m;
  for (int64_t i = 0; i < 12; ++i) InsertOne(&m, i, i);  // exactly 0.75 of 16
  ASSERT_EQ(m.bucket_count(), 16);
  for (int64_t i = 0; i < 12; ++i) InsertOne(&m, i, 100 + i);
  EXPECT_EQ(m.bucket_count(), 16);
  InsertOne(&m, 12, 12);
  EXPECT_EQ(m.bucket_count(), 32);
}

TEST(KeySlotMapTest, EmptyMarkerValueIsAnOrdinaryKey) {
  KeySlotMap m;
  EXPECT_EQ(FindOne(m, INT64_MIN), kNoSlot);
  const std::vector<int64_t> keys = {INT64_MIN, INT64_MAX, 0};
  const std::vector<int64_t> slots = {5, 6, 7};
  m.InsertBatch(3, keys.data(), slots.data());
  EXPECT_EQ(m.size(), 3);
  EXPECT_EQ(FindOne(m, INT64_MIN), 5);
  InsertOne(&m, INT64_MIN, 99);  // present: untouched
  EXPECT_EQ(FindOne(m, INT64_MIN), 5);
  EXPECT_EQ(Contents(m), (std::map<int64_t, int64_t>{{INT64_MIN, 5}, {0, 7}, {INT64_MAX, 6}}));

  // Growing the map must carry the out-of-line key along.
  for (int64_t i = 1; i <= 1000; ++i) InsertOne(&m, i, 1000 + i);
  EXPECT_EQ(FindOne(m, INT64_MIN), 5);
  EXPECT_EQ(m.size(), 1003);

  EXPECT_EQ(EraseOne(&m, INT64_MIN), 5);
  EXPECT_EQ(FindOne(m, INT64_MIN), kNoSlot);
  EXPECT_EQ(EraseOne(&m, INT64_MIN), kNoSlot);
  EXPECT_EQ(m.size(), 1002);
  InsertOne(&m, INT64_MIN, 8);
  EXPECT_EQ(FindOne(m, INT64_MIN), 8);
}

// Keys whose home bucket in a 16-bucket map is `home`, found by search so the
// test can build a probe run that wraps past the end of the bucket array.
std::vector<int64_t> KeysWithHome(uint64_t home, int count, int64_t start) {
  std::vector<int64_t> out;
  for (int64_t k = start; static_cast<int>(out.size()) < count; ++k) {
    if ((internal::MixKey(static_cast<uint64_t>(k)) & 15) == home) out.push_back(k);
  }
  return out;
}

TEST(KeySlotMapTest, BackwardShiftAcrossArrayEnd) {
  KeySlotMap m;
  ASSERT_EQ(m.bucket_count(), 16);
  // Run: [14]=a0 [15]=a1 [0]=a2 [1]=b0 [2]=b1, with a* homed at 14, b* at 0.
  const std::vector<int64_t> a = KeysWithHome(14, 3, 1);
  const std::vector<int64_t> b = KeysWithHome(0, 2, 1);
  for (int64_t k : a) InsertOne(&m, k, k);
  for (int64_t k : b) InsertOne(&m, k, k);
  ASSERT_EQ(m.bucket_count(), 16);

  // ForEach walks buckets in index order, which exposes the layout.
  auto layout = [&m] {
    std::vector<int64_t> keys;
    m.ForEach([&](int64_t k, int64_t) { keys.push_back(k); });
    return keys;
  };
  ASSERT_EQ(layout(), (std::vector<int64_t>{a[2], b[0], b[1], a[0], a[1]}));

  // The hole at 14 must travel to the end of the run: every later entry may
  // move back, since none sits before its home.
  EXPECT_EQ(EraseOne(&m, a[0]), a[0]);
  EXPECT_EQ(layout(), (std::vector<int64_t>{b[0], b[1], a[1], a[2]}));
  for (int64_t k : {a[1], a[2], b[0], b[1]}) EXPECT_EQ(FindOne(m, k), k) << k;
  EXPECT_EQ(EraseOne(&m, b[0]), b[0]);
  EXPECT_EQ(layout(), (std::vector<int64_t>{b[1], a[1], a[2]}));
  for (int64_t k : {a[1], a[2], b[1]}) EXPECT_EQ(FindOne(m, k), k) << k;
  // b1 already sits at its home bucket 0, so it must stay when 15 empties.
  EXPECT_EQ(EraseOne(&m, a[2]), a[2]);
  EXPECT_EQ(layout(), (std::vector<int64_t>{b[1], a[1]}));
  for (int64_t k : {a[1], b[1]}) EXPECT_EQ(FindOne(m, k), k) << k;
  EXPECT_EQ(m.size(), 2);
  EXPECT_EQ(Contents(m), (std::map<int64_t, int64_t>{{a[1], a[1]}, {b[1], b[1]}}));
}

TEST(KeySlotMapTest, HeavyChurnMatchesUnorderedMap) {
  std::mt19937_64 rng(1234);
  KeySlotMap m;
  std::unordered_map<int64_t, int64_t> ref;
  // A narrow key range keeps the map dense, so erases land inside long
  // probe runs, which is where backward shift can go wrong.
  constexpr int64_t kRange = 3000;
  auto random_key = [&] {
    const int64_t k = static_cast<int64_t>(rng() % kRange);
    return k == 0 ? INT64_MIN : k - kRange / 2;
  };
  int64_t next_slot = 0;
  for (int round = 0; round < 400; ++round) {
    // Insert a batch of distinct keys.
    std::unordered_map<int64_t, int64_t> batch;
    const int inserts = static_cast<int>(rng() % 200);
    for (int i = 0; i < inserts; ++i) batch.emplace(random_key(), next_slot++);
    std::vector<int64_t> ik, is;
    for (auto& [k, s] : batch) {
      ik.push_back(k);
      is.push_back(s);
      ref.emplace(k, s);
    }
    m.InsertBatch(static_cast<int64_t>(ik.size()), ik.data(), is.data());

    // Erase a batch, with repeats and absent keys.
    const int erases = static_cast<int>(rng() % 200);
    std::vector<int64_t> ek(erases), es(erases);
    for (int64_t& k : ek) k = random_key();
    const int64_t removed = m.EraseBatch(erases, ek.data(), es.data());
    int64_t ref_removed = 0;
    for (int i = 0; i < erases; ++i) {
      auto it = ref.find(ek[i]);
      const int64_t expected = it == ref.end() ? kNoSlot : it->second;
      ASSERT_EQ(es[i], expected) << "erase " << ek[i] << " round " << round;
      if (it != ref.end()) {
        ref.erase(it);
        ++ref_removed;
      }
    }
    ASSERT_EQ(removed, ref_removed);
    ASSERT_EQ(m.size(), static_cast<int64_t>(ref.size()));

    // Every key in the range must answer exactly as the reference.
    std::vector<int64_t> all(kRange), found(kRange);
    for (int64_t k = 0; k < kRange; ++k) all[k] = k == 0 ? INT64_MIN : k - kRange / 2;
    m.FindBatch(kRange, all.data(), found.data());
    for (int64_t i = 0; i < kRange; ++i) {
      auto it = ref.find(all[i]);
      ASSERT_EQ(found[i], it == ref.end() ? kNoSlot : it->second) << "key " << all[i] << " round " << round;
    }
  }
  const std::map<int64_t, int64_t> ordered_ref(ref.begin(), ref.end());
  EXPECT_EQ(Contents(m), ordered_ref);
}

TEST(KeySlotMapTest, SteadyChurnDoesNotGrowTheTable) {
  // Without tombstones, a stable live set under endless insert/erase keeps
  // its bucket count.
  KeySlotMap m;
  constexpr int64_t kLive = 1000;
  for (int64_t k = 0; k < kLive; ++k) InsertOne(&m, k, k);
  const int64_t buckets = m.bucket_count();
  for (int64_t k = kLive; k < 100 * kLive; ++k) {
    EXPECT_EQ(EraseOne(&m, k - kLive), k - kLive);
    InsertOne(&m, k, k);
  }
  EXPECT_EQ(m.bucket_count(), buckets);
  EXPECT_EQ(m.size(), kLive);
  for (int64_t k = 99 * kLive; k < 100 * kLive; ++k) ASSERT_EQ(FindOne(m, k), k);
  EXPECT_EQ(FindOne(m, 0), kNoSlot);
}

}  // namespace
}  // namespace asc
