// HBM mode of Table (host_vocabulary_size == 0) through the step API, and
// TableOptions (validation, names, text form).
#include "asc/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::Contents;
using testing_util::FakeDevice;
using testing_util::InitialRow;
using testing_util::LookupResult;
using testing_util::ReadKeys;
using testing_util::SlotsOf;

constexpr int64_t kNoSlot = KeySlotMap::kNoSlot;
constexpr int64_t kDim = 8;

TableOptions Options(int64_t capacity, KeyType key_dtype = KeyType::kInt64, bool expand = false) {
  TableOptions o;
  o.name = "t";
  o.key_dtype = key_dtype;
  o.dim = kDim;
  o.device_vocabulary_size = capacity;
  o.dynamic_expansion = expand;
  return o;
}

std::unique_ptr<Table> MakeTable(const TableOptions& options) {
  return testing_util::MakeTable(options);
}

// One training lookup in a step of its own (Lookup, Fill of the new keys,
// EndStep(commit=true)), as the old FindOrInsert was one call; capacity is
// the device capacity after it.
struct Result {
  Status status;
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  int64_t capacity = -1;
};

template <typename K>
Result FindOrInsert(Table* t, FakeDevice* dev, const std::vector<K>& keys) {
  const LookupResult r = testing_util::RunStep<K>(t, dev, keys);
  return Result{r.status, r.slots, r.needs_init, t->capacity()};
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
  FakeDevice dev(16, kDim);
  auto r1 = FindOrInsert<K>(t.get(), &dev, {10, 20, 30});
  ASSERT_TRUE(r1.status.ok()) << r1.status.message();
  EXPECT_EQ(r1.is_new, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(r1.slots, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(r1.capacity, 16);

  auto r2 = FindOrInsert<K>(t.get(), &dev, {30, 40, 10});
  ASSERT_TRUE(r2.status.ok());
  EXPECT_EQ(r2.is_new, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(r2.slots, (std::vector<int64_t>{2, 3, 0}));
  EXPECT_EQ(t->size(), 4);
  EXPECT_EQ(Contents(*t), (std::map<int64_t, int64_t>{{10, 0}, {20, 1}, {30, 2}, {40, 3}}));
  // The rows are what Fill wrote.
  EXPECT_EQ(dev.Embedding(3), InitialRow(40, kDim));
  EXPECT_EQ(dev.Embedding(0), InitialRow(10, kDim));
}

// Read (the eval path, also of int32 keys) never inserts; repeated keys are
// fine there.
TYPED_TEST(TableTypedTest, ReadNeverInserts) {
  using K = TypeParam;
  auto t = MakeTable(Options(16, TestFixture::kType));
  FakeDevice dev(16, kDim);
  ASSERT_TRUE(FindOrInsert<K>(t.get(), &dev, {5}).status.ok());
  const TableStats before = t->stats();
  const testing_util::ReadResult r = ReadKeys<K>(*t, {5, 6, 5}, dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.found, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(r.Row(0, kDim), InitialRow(5, kDim));
  EXPECT_EQ(r.Row(1, kDim), std::vector<float>(kDim, -7.0f));  // absent: untouched
  EXPECT_EQ(r.Row(2, kDim), InitialRow(5, kDim));
  EXPECT_EQ(t->size(), 1);
  EXPECT_TRUE(testing_util::SameStats(t->stats(), before));
  EXPECT_TRUE(ReadKeys<K>(*t, {}, dev).status.ok());
  EXPECT_EQ(SlotsOf<K>(*t, {5, 6}), (std::vector<int64_t>{0, kNoSlot}));
}

TYPED_TEST(TableTypedTest, EraseFreesSlotsForReuse) {
  using K = TypeParam;
  auto t = MakeTable(Options(4, TestFixture::kType));
  FakeDevice dev(4, kDim);
  ASSERT_TRUE(FindOrInsert<K>(t.get(), &dev, {1, 2, 3, 4}).status.ok());
  const std::vector<K> gone = {2, 99, 4, 2};
  EXPECT_EQ(t->template Erase<K>(4, gone.data()), 2);
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(SlotsOf<K>(*t, {1, 2, 3, 4}), (std::vector<int64_t>{0, kNoSlot, 2, kNoSlot}));

  // The table is full again only after both freed rows are reused.
  auto r = FindOrInsert<K>(t.get(), &dev, {7, 8});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(std::set<int64_t>(r.slots.begin(), r.slots.end()), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(r.capacity, 4);
  EXPECT_EQ(FindOrInsert<K>(t.get(), &dev, {9}).status.code(), StatusCode::kResourceExhausted);

  // A re-inserted key is new again.
  EXPECT_EQ(t->template Erase<K>(1, gone.data() + 1), 0);
  const K one = 1;
  EXPECT_EQ(t->template Erase<K>(1, &one), 1);
  auto again = FindOrInsert<K>(t.get(), &dev, {1});
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.is_new, std::vector<bool>{true});
  EXPECT_EQ(again.slots, std::vector<int64_t>{0});
}

TYPED_TEST(TableTypedTest, ExpansionFromTinyCapacityTo100x) {
  using K = TypeParam;
  auto t = MakeTable(Options(4, TestFixture::kType, /*expand=*/true));
  FakeDevice dev(4, kDim);
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
    auto r = FindOrInsert<K>(t.get(), &dev, keys);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    ASSERT_GE(r.capacity, last_capacity);
    // growth_factor 2 from 4: always 4 * 2^k; the device rows grew with it.
    ASSERT_EQ(r.capacity & (r.capacity - 1), 0) << r.capacity;
    ASSERT_GE(dev.rows(), r.capacity);
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
  // Rows written before a growth survive it.
  for (auto& [k, s] : expected) {
    ASSERT_EQ(dev.Embedding(s), InitialRow(k, kDim)) << k;
  }
  EXPECT_EQ(dev.bad_slots(), 0);
}

TEST(TableTest, OneBatchFarBeyondCapacityGrowsGeometrically) {
  auto t = MakeTable(Options(4, KeyType::kInt64, /*expand=*/true));
  FakeDevice dev(4, kDim);
  std::vector<int64_t> keys(1000);
  for (int64_t i = 0; i < 1000; ++i) keys[i] = i * 31;
  auto r = FindOrInsert<int64_t>(t.get(), &dev, keys);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.capacity, 1024);  // 4 doubled until 1000 fit
  EXPECT_EQ(dev.rows(), 1024);
  for (int64_t s : r.slots) ASSERT_LT(s, 1024);
}

TEST(TableTest, FractionalGrowthFactorStillMakesProgress) {
  TableOptions o = Options(3, KeyType::kInt64, /*expand=*/true);
  o.growth_factor = 1.01;  // 3 * 1.01 rounds back to 3 without the +1 floor
  auto t = MakeTable(o);
  FakeDevice dev(3, kDim);
  int64_t key = 0;
  for (int batch = 0; batch < 50; ++batch) {
    const int64_t before = t->capacity();
    auto r = FindOrInsert<int64_t>(t.get(), &dev, {key, key + 1});
    key += 2;
    ASSERT_TRUE(r.status.ok());
    ASSERT_GE(r.capacity, t->size());
    ASSERT_LE(r.capacity, std::max<int64_t>(before + 2, static_cast<int64_t>(before * 1.01) + 2));
  }
  EXPECT_EQ(t->size(), 100);
}

// A device tier that failed to grow (the variables could not) leaves the
// table unchanged.
TEST(TableTest, FailedGrowthChangesNothing) {
  auto t = MakeTable(Options(2, KeyType::kInt64, /*expand=*/true));
  FakeDevice dev(2, kDim);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, {1, 2}).status.ok());
  const auto before = Contents(*t);
  const TableStats stats = t->stats();
  dev.SetUninitialised(true);
  auto r = FindOrInsert<int64_t>(t.get(), &dev, {3});
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(t->capacity(), 2);
  EXPECT_EQ(Contents(*t), before);
  EXPECT_TRUE(testing_util::SameStats(t->stats(), stats));
  dev.SetUninitialised(false);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, {3}).status.ok());
  EXPECT_EQ(t->capacity(), 4);
}

TEST(TableTest, OverflowWithoutExpansionChangesNothing) {
  TableOptions o = Options(8);
  o.name = "clicks";
  auto t = MakeTable(o);
  FakeDevice dev(8, kDim);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, {1, 2, 3, 4, 5, 6}).status.ok());
  const auto before = Contents(*t);

  auto r = FindOrInsert<int64_t>(t.get(), &dev, {2, 100, 101, 102});
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status.message(),
            "table 'clicks' is full: device_vocabulary_size=8, 6 keys held, 3 new keys in this "
            "batch; enable dynamic expansion or enlarge device_vocabulary_size");
  EXPECT_EQ(Contents(*t), before);
  EXPECT_EQ(t->capacity(), 8);
  EXPECT_EQ(SlotsOf<int64_t>(*t, {100, 101, 102}), std::vector<int64_t>(3, kNoSlot));
  EXPECT_EQ(t->size(), 6);

  // The two free rows are still free, and handed out in order.
  auto ok = FindOrInsert<int64_t>(t.get(), &dev, {100, 2, 101});
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.slots, (std::vector<int64_t>{6, 1, 7}));
}

TEST(TableTest, Int32TableRejectsOutOfRangeInt64Keys) {
  TableOptions o = Options(16, KeyType::kInt32);
  o.name = "ids32";
  auto t = MakeTable(o);
  FakeDevice dev(16, kDim);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, {INT32_MIN, INT32_MAX, 0}).status.ok());
  const auto before = Contents(*t);

  auto r = FindOrInsert<int64_t>(t.get(), &dev, {7, int64_t{1} << 32, int64_t{INT32_MIN} - 1});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  // Names the table and the first offending key only.
  EXPECT_EQ(r.status.message(),
            "int32 table 'ids32': key 4294967296 at position 1 is outside the int32 range "
            "[-2147483648, 2147483647]");
  EXPECT_EQ(Contents(*t), before);
  EXPECT_EQ(SlotsOf<int64_t>(*t, {7}), std::vector<int64_t>{kNoSlot});

  // Reads just miss: such a key can never be present.
  const auto wide = ReadKeys<int64_t>(*t, {int64_t{1} << 32, INT32_MAX}, dev);
  ASSERT_TRUE(wide.status.ok());
  EXPECT_EQ(wide.found, (std::vector<bool>{false, true}));
  const auto narrow = ReadKeys<int32_t>(*t, {INT32_MIN, INT32_MAX}, dev);
  ASSERT_TRUE(narrow.status.ok());
  EXPECT_EQ(narrow.found, (std::vector<bool>{true, true}));
  EXPECT_EQ(narrow.Row(0, kDim), InitialRow(INT32_MIN, kDim));
  EXPECT_EQ(SlotsOf<int32_t>(*t, {INT32_MIN, INT32_MAX}), (std::vector<int64_t>{0, 1}));
}

TEST(TableTest, Int64TableAcceptsFullRangeAndNarrowKeys) {
  auto t = MakeTable(Options(8));
  FakeDevice dev(8, kDim);
  auto r = FindOrInsert<int64_t>(t.get(), &dev, {INT64_MIN, INT64_MAX, -1, int64_t{1} << 40});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.slots, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(SlotsOf<int32_t>(*t, {-1, 0}), (std::vector<int64_t>{2, kNoSlot}));
  EXPECT_EQ(ReadKeys<int32_t>(*t, {-1, 0}, dev).found, (std::vector<bool>{true, false}));
  const std::vector<int64_t> gone = {INT64_MIN};
  EXPECT_EQ(t->Erase<int64_t>(1, gone.data()), 1);
  EXPECT_EQ(SlotsOf<int64_t>(*t, {INT64_MIN, INT64_MAX}), (std::vector<int64_t>{kNoSlot, 1}));
}

TEST(TableTest, RepeatedNewKeyIsRejectedRepeatedOldKeyIsFine) {
  auto t = MakeTable(Options(8));
  FakeDevice dev(8, kDim);
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, {1}).status.ok());
  auto dup_old = FindOrInsert<int64_t>(t.get(), &dev, {1, 1, 2});
  ASSERT_TRUE(dup_old.status.ok()) << dup_old.status.message();
  EXPECT_EQ(dup_old.slots, (std::vector<int64_t>{0, 0, 1}));

  const auto before = Contents(*t);
  auto dup_new = FindOrInsert<int64_t>(t.get(), &dev, {3, 1, 3});
  EXPECT_EQ(dup_new.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup_new.status.message().find("unique"), std::string::npos);
  EXPECT_EQ(Contents(*t), before);
  // No row leaked: the next new key gets the next row.
  auto next = FindOrInsert<int64_t>(t.get(), &dev, {3});
  EXPECT_EQ(next.slots, std::vector<int64_t>{2});
}

TEST(TableTest, EmptyBatch) {
  auto t = MakeTable(Options(5));
  FakeDevice dev(5, kDim);
  const Table::StepId step = t->BeginStep();
  EXPECT_TRUE(t->Lookup<int64_t>(step, 0, nullptr, nullptr, &dev, nullptr, nullptr).ok());
  EXPECT_TRUE(t->Fill(step, 0, nullptr, nullptr, &dev).ok());
  t->EndStep(step, true);
  EXPECT_EQ(t->capacity(), 5);
  EXPECT_EQ(t->Erase<int64_t>(0, nullptr), 0);
  const Table::StepId other = t->BeginStep();
  const int64_t n_negative = -1;
  EXPECT_EQ(t->Lookup<int64_t>(other, n_negative, nullptr, nullptr, &dev, nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
  t->EndStep(other, true);
}

// Lookup and Fill belong to an open step; an unknown one changes nothing.
TEST(TableTest, LookupAndFillNeedAnOpenStep) {
  auto t = MakeTable(Options(4));
  FakeDevice dev(4, kDim);
  const int64_t key = 5;
  int64_t slot = -7;
  bool needs_init = false;
  Status s = t->Lookup<int64_t>(/*step=*/12345, 1, &key, nullptr, &dev, &slot, &needs_init);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("'t'"), std::string::npos) << s.message();
  EXPECT_EQ(t->size(), 0);

  const Table::StepId step = t->BeginStep();
  EXPECT_EQ(t->stats().open_steps, 1);
  ASSERT_TRUE(t->Lookup<int64_t>(step, 1, &key, nullptr, &dev, &slot, &needs_init).ok());
  EXPECT_TRUE(needs_init);
  const std::vector<float> row = InitialRow(key, kDim);
  EXPECT_EQ(t->Fill(step + 100, 1, &slot, row.data(), &dev).code(), StatusCode::kFailedPrecondition);
  const int64_t not_pinned = 3;
  EXPECT_EQ(t->Fill(step, 1, &not_pinned, row.data(), &dev).code(),
            StatusCode::kFailedPrecondition);
  const int64_t outside = 99;
  EXPECT_EQ(t->Fill(step, 1, &outside, row.data(), &dev).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(dev.initialized().empty());  // the failed Fills wrote nothing
  ASSERT_TRUE(t->Fill(step, 1, &slot, row.data(), &dev).ok());
  t->EndStep(step, true);
  t->EndStep(step, true);  // unknown now: ignored
  EXPECT_EQ(t->stats().open_steps, 0);
  EXPECT_EQ(testing_util::TierOf(*t, key), kTierDevice);
  // A closed step takes no more lookups.
  EXPECT_EQ(t->Lookup<int64_t>(step, 1, &key, nullptr, &dev, &slot, &needs_init).code(),
            StatusCode::kFailedPrecondition);
}

TEST(TableTest, MemoryGrowsWithKeysWhenExpanding) {
  auto t = MakeTable(Options(16, KeyType::kInt64, /*expand=*/true));
  FakeDevice dev(16, kDim);
  const int64_t empty = t->memory_bytes();
  EXPECT_GT(empty, 0);
  std::vector<int64_t> keys(50000);
  for (int64_t i = 0; i < 50000; ++i) keys[i] = i;
  ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, keys).status.ok());
  // 50000 keys at load <= 0.75 need >= 65536 buckets of 16 bytes.
  EXPECT_GE(t->memory_bytes(), 65536 * 16);
  EXPECT_GT(t->memory_bytes(), empty);
}

TEST(TableTest, FillingTheDeviceTierNeverRehashes) {
  // The key map is sized for the tier up front: no step pays for a rehash.
  // Batches of equal size, so per-call scratch stops growing after the first.
  constexpr int64_t kKeys = 100000;
  constexpr int64_t kBatch = 1000;
  auto t = MakeTable(Options(kKeys));
  FakeDevice dev(kKeys, kDim);
  std::vector<int64_t> keys(kBatch);
  int64_t after_first = 0;
  for (int64_t base = 0; base < kKeys; base += kBatch) {
    for (int64_t i = 0; i < kBatch; ++i) keys[i] = (base + i) * 7919;
    ASSERT_TRUE(FindOrInsert<int64_t>(t.get(), &dev, keys).status.ok());
    if (base == 0) after_first = t->memory_bytes();
  }
  EXPECT_EQ(t->size(), kKeys);
  EXPECT_EQ(t->memory_bytes(), after_first);
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
      {"capacity 0", [](TableOptions* o) { o->device_vocabulary_size = 0; },
       "device_vocabulary_size must be in [1, 1099511627776], got 0 (table 't')"},
      {"capacity too big",
       [](TableOptions* o) { o->device_vocabulary_size = TableOptions::kMaxCapacity + 1; },
       "device_vocabulary_size must be in [1, 1099511627776], got 1099511627777 (table 't')"},
      {"growth 1", [](TableOptions* o) { o->growth_factor = 1.0; },
       "growth_factor must be a finite number > 1, got 1 (table 't')"},
      {"growth nan", [](TableOptions* o) { o->growth_factor = std::nan(""); },
       "growth_factor must be a finite number > 1, got nan (table 't')"},
      {"growth inf", [](TableOptions* o) { o->growth_factor = INFINITY; },
       "growth_factor must be a finite number > 1, got inf (table 't')"},
      {"key type", [](TableOptions* o) { o->key_dtype = static_cast<KeyType>(9); },
       "key_dtype must be int32 or int64, got 9 (table 't')"},
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

TEST(TableOptionsTest, KeyTypeAndCachePolicyNames) {
  EXPECT_STREQ(KeyTypeName(KeyType::kInt32), "int32");
  EXPECT_STREQ(KeyTypeName(KeyType::kInt64), "int64");
  EXPECT_STREQ(KeyTypeName(static_cast<KeyType>(5)), "unknown");
  EXPECT_STREQ(CachePolicyName(CachePolicy::kLru), "LRU");
  EXPECT_STREQ(CachePolicyName(CachePolicy::kLfu), "LFU");
  EXPECT_STREQ(CachePolicyName(static_cast<CachePolicy>(5)), "unknown");
}

bool SameOptions(const TableOptions& a, const TableOptions& b) {
  return a.name == b.name && a.key_dtype == b.key_dtype && a.dim == b.dim &&
         a.device_vocabulary_size == b.device_vocabulary_size &&
         a.dynamic_expansion == b.dynamic_expansion && a.growth_factor == b.growth_factor &&
         a.host_vocabulary_size == b.host_vocabulary_size &&
         a.ssd_vocabulary_size == b.ssd_vocabulary_size && a.ssd_data_path == b.ssd_data_path &&
         a.ssd_min_free_bytes == b.ssd_min_free_bytes && a.cache_policy == b.cache_policy &&
         a.hot_vocabulary_size == b.hot_vocabulary_size &&
         a.hot_refresh_steps == b.hot_refresh_steps;
}

TEST(TableOptionsTest, SerializeParseRoundTrip) {
  TableOptions o;
  o.name = "user;id=%41 emb";
  o.key_dtype = KeyType::kInt32;
  o.dim = 17;
  o.device_vocabulary_size = 12345;
  o.dynamic_expansion = true;
  o.growth_factor = 1.1;  // not exact in binary: must survive the text form bit for bit
  o.host_vocabulary_size = 99999;
  o.ssd_vocabulary_size = int64_t{1} << 35;
  o.ssd_data_path = {"/data/a;b=c%d", "/plain", "", "%%;;==", "/x%2"};
  o.ssd_min_free_bytes = 7;
  o.cache_policy = CachePolicy::kLfu;
  o.hot_vocabulary_size = 3;
  o.hot_refresh_steps = 42;
  const std::string text = o.Serialize();
  TableOptions back;
  const Status s = TableOptions::Parse(text, &back);
  ASSERT_TRUE(s.ok()) << s.message() << " in " << text;
  EXPECT_TRUE(SameOptions(o, back)) << text;
  EXPECT_EQ(back.Serialize(), text);
  // One line; the separators inside values are escaped.
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find("a;b"), std::string::npos) << text;

  // Defaults round-trip too (no SSD path at all, LRU, int64).
  TableOptions d = Options(4);
  ASSERT_TRUE(TableOptions::Parse(d.Serialize(), &back).ok());
  EXPECT_TRUE(SameOptions(d, back));
  EXPECT_TRUE(back.ssd_data_path.empty());
}

TEST(TableOptionsTest, ParseRejectsGarbageAndLeavesTheOutputAlone) {
  TableOptions base = Options(4);
  base.name = "keep";
  const std::string good = Options(6).Serialize();
  const std::string bad[] = {
      "garbage",
      "name=x",                                  // no terminating ';'
      "name=x;dim=abc;",                         // not a number
      "name=x;dim=12abc;",                       // trailing junk
      "name=x;dim=;",                            // empty number
      "name=x;dim=99999999999999999999999;",     // out of int64 range
      "name=x;key_dtype=int16;",                 // unknown key type
      "name=x;cache_policy=lru;",                // names are upper case
      "name=x;dynamic_expansion=yes;",           // 0 or 1
      "name=x;growth_factor=fast;",              // not a number
      "name=x;unknown_field=1;",                 // unknown field
      "name=%4;",                                // truncated escape
      "name=%zz;",                               // bad escape
      "ssd_data_path=/a%;",                      // truncated escape in a path
      ";",                                       // empty pair
      "=1;",                                     // no field name
      good + "bogus",                            // trailing text
  };
  for (const std::string& text : bad) {
    TableOptions out = base;
    const Status s = TableOptions::Parse(text, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "'" << text << "'";
    EXPECT_TRUE(SameOptions(out, base)) << "'" << text << "'";
  }
  // Parse does not validate: a parseable but invalid text is accepted.
  TableOptions invalid = Options(4);
  invalid.dim = 0;
  TableOptions out;
  ASSERT_TRUE(TableOptions::Parse(invalid.Serialize(), &out).ok());
  EXPECT_EQ(out.dim, 0);
  EXPECT_EQ(out.Validate().code(), StatusCode::kInvalidArgument);
}

// "Parse accepts only what Serialize writes": an escape is '%' and two hex
// digits, a number is plain decimal digits (Serialize never writes a sign,
// blanks or a '+').
TEST(TableOptionsTest, ParseRejectsMalformedEscapesAndNumbers) {
  const std::string bad[] = {
      "name=%-1;",   // strtol would read -1
      "name=% 1;",   // strtol would skip the blank
      "name=%+1;",
      "dim= 12;",    // strtoll would skip the blank
      "dim=+12;",
  };
  for (const std::string& text : bad) {
    TableOptions out;
    EXPECT_EQ(TableOptions::Parse(text, &out).code(), StatusCode::kInvalidArgument)
        << "'" << text << "'";
  }
}

}  // namespace
}  // namespace asc
