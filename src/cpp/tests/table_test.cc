#include "asc/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace asc {
namespace {

constexpr int64_t kNoSlot = KeySlotMap::kNoSlot;

TableOptions Options(int64_t capacity, KeyType key_type = KeyType::kInt64, bool expand = false) {
  TableOptions o;
  o.name = "t";
  o.key_type = key_type;
  o.dim = 8;
  o.device_capacity = capacity;
  o.dynamic_expansion = expand;
  return o;
}

std::unique_ptr<Table> MakeTable(const TableOptions& options) {
  std::unique_ptr<Table> t;
  Status s = Table::Create(options, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

template <typename K>
struct Result {
  Status status;
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  int64_t capacity = -1;
};

template <typename K>
Result<K> FindOrInsert(Table* t, const std::vector<K>& keys) {
  Result<K> r;
  const size_t n = keys.size();
  r.slots.assign(n, -7);
  std::unique_ptr<bool[]> is_new(new bool[n + 1]());
  r.status = t->FindOrInsert<K>(static_cast<int64_t>(n), keys.data(), r.slots.data(), is_new.get(),
                                &r.capacity);
  r.is_new.assign(is_new.get(), is_new.get() + n);
  return r;
}

template <typename K>
std::vector<int64_t> Find(const Table& t, const std::vector<K>& keys) {
  std::vector<int64_t> slots(keys.size(), -7);
  t.Find<K>(static_cast<int64_t>(keys.size()), keys.data(), slots.data());
  return slots;
}

std::map<int64_t, int64_t> Contents(const Table& t) {
  std::vector<int64_t> keys, slots;
  t.Snapshot(&keys, &slots);
  EXPECT_EQ(keys.size(), slots.size());
  std::map<int64_t, int64_t> out;
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_TRUE(out.emplace(keys[i], slots[i]).second);
  return out;
}

template <typename K>
class TableTypedTest : public ::testing::Test {
 protected:
  static constexpr KeyType kType = std::is_same_v<K, int32_t> ? KeyType::kInt32 : KeyType::kInt64;
};
using KeyTypes = ::testing::Types<int32_t, int64_t>;
TYPED_TEST_SUITE(TableTypedTest, KeyTypes);

TYPED_TEST(TableTypedTest, NewKeysThenExistingKeys) {
  using K = TypeParam;
  auto t = MakeTable(Options(16, TestFixture::kType));
  auto r1 = FindOrInsert<K>(t.get(), {10, 20, 30});
  ASSERT_TRUE(r1.status.ok()) << r1.status.message();
  EXPECT_EQ(r1.is_new, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(r1.slots, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(r1.capacity, 16);

  auto r2 = FindOrInsert<K>(t.get(), {30, 40, 10});
  ASSERT_TRUE(r2.status.ok());
  EXPECT_EQ(r2.is_new, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(r2.slots, (std::vector<int64_t>{2, 3, 0}));
  EXPECT_EQ(t->size(), 4);
  EXPECT_EQ(Contents(*t), (std::map<int64_t, int64_t>{{10, 0}, {20, 1}, {30, 2}, {40, 3}}));
}

TYPED_TEST(TableTypedTest, FindNeverInserts) {
  using K = TypeParam;
  auto t = MakeTable(Options(16, TestFixture::kType));
  ASSERT_TRUE(FindOrInsert<K>(t.get(), {5}).status.ok());
  EXPECT_EQ(Find<K>(*t, {5, 6, 5}), (std::vector<int64_t>{0, kNoSlot, 0}));
  EXPECT_EQ(t->size(), 1);
  EXPECT_EQ(Find<K>(*t, {}), std::vector<int64_t>{});
}

TYPED_TEST(TableTypedTest, EraseFreesSlotsForReuse) {
  using K = TypeParam;
  auto t = MakeTable(Options(4, TestFixture::kType));
  ASSERT_TRUE(FindOrInsert<K>(t.get(), {1, 2, 3, 4}).status.ok());
  const std::vector<K> gone = {2, 99, 4, 2};
  EXPECT_EQ(t->template Erase<K>(4, gone.data()), 2);
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(Find<K>(*t, {1, 2, 3, 4}), (std::vector<int64_t>{0, kNoSlot, 2, kNoSlot}));

  // The table is full again only after both freed rows are reused.
  auto r = FindOrInsert<K>(t.get(), {7, 8});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(std::set<int64_t>(r.slots.begin(), r.slots.end()), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(r.capacity, 4);
  EXPECT_EQ(FindOrInsert<K>(t.get(), {9}).status.code(), StatusCode::kResourceExhausted);

  // A re-inserted key is new again.
  EXPECT_EQ(t->template Erase<K>(1, gone.data() + 1), 0);
  const K one = 1;
  EXPECT_EQ(t->template Erase<K>(1, &one), 1);
  auto again = FindOrInsert<K>(t.get(), {1});
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.is_new, std::vector<bool>{true});
  EXPECT_EQ(again.slots, std::vector<int64_t>{0});
}

TYPED_TEST(TableTypedTest, ExpansionFromTinyCapacityTo100x) {
  using K = TypeParam;
  auto t = MakeTable(Options(4, TestFixture::kType, /*expand=*/true));
  std::map<int64_t, int64_t> expected;
  K next_key = -200;
  int64_t last_capacity = 4;
  for (int batch = 0; expected.size() < 400; ++batch) {
    // Mix old keys (must keep their slots) with new ones, in varying sizes.
    std::vector<K> keys;
    for (auto& [k, s] : expected) {
      if (keys.size() >= static_cast<size_t>(batch % 5)) break;
      keys.push_back(static_cast<K>(k));
    }
    for (int i = 0; i <= batch % 13; ++i) keys.push_back(next_key++);
    auto r = FindOrInsert<K>(t.get(), keys);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    ASSERT_EQ(r.capacity, t->capacity());
    ASSERT_GE(r.capacity, last_capacity);
    // growth_factor 2 from 4: always 4 * 2^k.
    ASSERT_EQ(r.capacity & (r.capacity - 1), 0) << r.capacity;
    last_capacity = r.capacity;
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_GE(r.slots[i], 0);
      ASSERT_LT(r.slots[i], r.capacity);
      auto it = expected.find(keys[i]);
      ASSERT_EQ(r.is_new[i], it == expected.end());
      if (it != expected.end()) {
        ASSERT_EQ(r.slots[i], it->second) << "old key moved";
      }
      expected.emplace(keys[i], r.slots[i]);
    }
  }
  EXPECT_EQ(Contents(*t), expected);
  std::set<int64_t> slots;
  for (auto& [k, s] : expected) EXPECT_TRUE(slots.insert(s).second) << "slot " << s << " twice";
  EXPECT_EQ(t->capacity(), 512);
}

TEST(TableTest, OneBatchFarBeyondCapacityGrowsGeometrically) {
  auto t = MakeTable(Options(4, KeyType::kInt64, /*expand=*/true));
  std::vector<int64_t> keys(1000);
  for (int64_t i = 0; i < 1000; ++i) keys[i] = i * 31;
  auto r = FindOrInsert<int64_t>(t.get(), keys);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.capacity, 1024);  // 4 doubled until 1000 fit
  for (int64_t s : r.slots) ASSERT_LT(s, 1024);
}

TEST(TableTest, FractionalGrowthFactorStillMakesProgress) {
  TableOptions o = Options(3, KeyType::kInt64, /*expand=*/true);
  o.growth_factor = 1.01;  // 3 * 1.01 rounds back to 3 without the +1 floor
  auto t = MakeTable(o);
  int64_t key = 0;
  for (int batch = 0; batch < 50; ++batch) {
    const int64_t before = t->capacity();
    auto r = FindOrInsert<int64_t>(t.get(), {key, key + 1});
    key += 2;
    ASSERT_TRUE(r.status.ok());
    ASSERT_GE(r.capacity, t->size());
    ASSERT_LE(r.capacity, std::max<int64_t>(before + 2, static_cast<int64_t>(before * 1.01) + 2));
  }
  EXPECT_EQ(t->size(), 100);
}

TEST(TableTest, OverflowWithoutExpansionChangesNothing) {
  TableOptions o = Options(8);
  o.name = "clicks";
  auto t = MakeTable(o);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), {1, 2, 3, 4, 5, 6}).status.ok());
  const auto before = Contents(*t);

  auto r = FindOrInsert<int64_t>(t.get(), {2, 100, 101, 102});
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status.message(),
            "table 'clicks' is full: device_vocabulary_size=8, 6 keys held, 3 new keys in this "
            "batch; enable dynamic expansion or enlarge device_vocabulary_size");
  EXPECT_EQ(Contents(*t), before);
  EXPECT_EQ(t->capacity(), 8);
  EXPECT_EQ(Find<int64_t>(*t, {100, 101, 102}), std::vector<int64_t>(3, kNoSlot));

  // The two free rows are still free, and handed out in order.
  auto ok = FindOrInsert<int64_t>(t.get(), {100, 2, 101});
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.slots, (std::vector<int64_t>{6, 1, 7}));
}

TEST(TableTest, Int32TableRejectsOutOfRangeInt64Keys) {
  TableOptions o = Options(16, KeyType::kInt32);
  o.name = "ids32";
  auto t = MakeTable(o);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), {INT32_MIN, INT32_MAX, 0}).status.ok());
  const auto before = Contents(*t);

  auto r = FindOrInsert<int64_t>(t.get(), {7, int64_t{1} << 32, int64_t{INT32_MIN} - 1});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  // Names the table and the first offending key only.
  EXPECT_EQ(r.status.message(),
            "int32 table 'ids32': key 4294967296 at position 1 is outside the int32 range "
            "[-2147483648, 2147483647]");
  EXPECT_EQ(Contents(*t), before);
  EXPECT_EQ(Find<int64_t>(*t, {7}), std::vector<int64_t>{kNoSlot});

  // Reads just miss: such a key can never be present.
  EXPECT_EQ(Find<int64_t>(*t, {int64_t{1} << 32, INT32_MAX}), (std::vector<int64_t>{kNoSlot, 1}));
  EXPECT_EQ(Find<int32_t>(*t, {INT32_MIN, INT32_MAX}), (std::vector<int64_t>{0, 1}));
}

TEST(TableTest, Int64TableAcceptsFullRangeAndNarrowKeys) {
  auto t = MakeTable(Options(8));
  auto r = FindOrInsert<int64_t>(t.get(), {INT64_MIN, INT64_MAX, -1, int64_t{1} << 40});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.slots, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(Find<int32_t>(*t, {-1, 0}), (std::vector<int64_t>{2, kNoSlot}));
  const std::vector<int64_t> gone = {INT64_MIN};
  EXPECT_EQ(t->Erase<int64_t>(1, gone.data()), 1);
  EXPECT_EQ(Find<int64_t>(*t, {INT64_MIN, INT64_MAX}), (std::vector<int64_t>{kNoSlot, 1}));
}

TEST(TableTest, RepeatedNewKeyIsRejectedRepeatedOldKeyIsFine) {
  auto t = MakeTable(Options(8));
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), {1}).status.ok());
  auto dup_old = FindOrInsert<int64_t>(t.get(), {1, 1, 2});
  ASSERT_TRUE(dup_old.status.ok());
  EXPECT_EQ(dup_old.slots, (std::vector<int64_t>{0, 0, 1}));

  const auto before = Contents(*t);
  auto dup_new = FindOrInsert<int64_t>(t.get(), {3, 1, 3});
  EXPECT_EQ(dup_new.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup_new.status.message().find("unique"), std::string::npos);
  EXPECT_EQ(Contents(*t), before);
  // No row leaked: the next new key gets the next row.
  auto next = FindOrInsert<int64_t>(t.get(), {3});
  EXPECT_EQ(next.slots, std::vector<int64_t>{2});
}

TEST(TableTest, EmptyBatchReportsCapacity) {
  auto t = MakeTable(Options(5));
  int64_t capacity = -1;
  EXPECT_TRUE(t->FindOrInsert<int64_t>(0, nullptr, nullptr, nullptr, &capacity).ok());
  EXPECT_EQ(capacity, 5);
  EXPECT_EQ(t->Erase<int64_t>(0, nullptr), 0);
}

TEST(TableTest, MemoryGrowsWithKeysWhenExpanding) {
  auto t = MakeTable(Options(16, KeyType::kInt64, /*expand=*/true));
  const int64_t empty = t->memory_bytes();
  EXPECT_GT(empty, 0);
  std::vector<int64_t> keys(50000);
  for (int64_t i = 0; i < 50000; ++i) keys[i] = i;
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), keys).status.ok());
  // 50000 keys at load <= 0.75 need >= 65536 buckets of 16 bytes.
  EXPECT_GE(t->memory_bytes(), 65536 * 16);
  EXPECT_GT(t->memory_bytes(), empty);
}

TEST(TableTest, FillingTheDeviceTierNeverRehashes) {
  // The key map is sized for the tier up front: no step pays for a rehash.
  auto t = MakeTable(Options(100000));
  std::vector<int64_t> keys(100000);
  for (int64_t i = 0; i < 100000; ++i) keys[i] = i * 7919;
  const int64_t before = t->memory_bytes();
  const size_t scratch = 2 * sizeof(int64_t) * keys.size();  // FindOrInsert's own buffer
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), keys).status.ok());
  EXPECT_EQ(t->size(), 100000);
  EXPECT_LE(t->memory_bytes(), before + static_cast<int64_t>(scratch));
}

struct BadOption {
  const char* label;
  void (*mutate)(TableOptions*);
  const char* message;
};

TEST(TableOptionsTest, ValidateNamesFieldAndRange) {
  const BadOption cases[] = {
      {"empty name", [](TableOptions* o) { o->name.clear(); }, "name must be a non-empty string"},
      {"dim 0", [](TableOptions* o) { o->dim = 0; }, "dim must be in [1, 8192], got 0 (table 't')"},
      {"dim too big", [](TableOptions* o) { o->dim = 8193; }, "dim must be in [1, 8192], got 8193 (table 't')"},
      {"capacity 0", [](TableOptions* o) { o->device_capacity = 0; },
       "device_capacity (device_vocabulary_size) must be in [1, 1099511627776], got 0 (table 't')"},
      {"capacity too big", [](TableOptions* o) { o->device_capacity = TableOptions::kMaxCapacity + 1; },
       "device_capacity (device_vocabulary_size) must be in [1, 1099511627776], got 1099511627777 (table 't')"},
      {"growth 1", [](TableOptions* o) { o->growth_factor = 1.0; },
       "growth_factor must be a finite number > 1, got 1 (table 't')"},
      {"growth nan", [](TableOptions* o) { o->growth_factor = std::nan(""); },
       "growth_factor must be a finite number > 1, got nan (table 't')"},
      {"growth inf", [](TableOptions* o) { o->growth_factor = INFINITY; },
       "growth_factor must be a finite number > 1, got inf (table 't')"},
      {"key type", [](TableOptions* o) { o->key_type = static_cast<KeyType>(9); },
       "key_type must be int32 or int64, got 9 (table 't')"},
  };
  for (const BadOption& c : cases) {
    TableOptions o = Options(4);
    c.mutate(&o);
    const Status s = o.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.label;
    EXPECT_EQ(s.message(), c.message) << c.label;
    std::unique_ptr<Table> t;
    EXPECT_EQ(Table::Create(o, &t).message(), c.message) << c.label;
    EXPECT_EQ(t, nullptr) << c.label;
  }
  EXPECT_TRUE(Options(1).Validate().ok());
  TableOptions edge = Options(TableOptions::kMaxCapacity);
  edge.dim = TableOptions::kMaxDim;
  EXPECT_TRUE(edge.Validate().ok());
}

TEST(TableOptionsTest, KeyTypeNames) {
  EXPECT_STREQ(KeyTypeName(KeyType::kInt32), "int32");
  EXPECT_STREQ(KeyTypeName(KeyType::kInt64), "int64");
}

}  // namespace
}  // namespace asc
