// DDR mode of Table: Lookup moves rows between the device rows (a fake
// DeviceRows) and the host tier itself; Read serves both tiers. Driven like
// the graph drives it, against a reference map.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::FakeDevice;
using testing_util::InitialRow;
using testing_util::Locate;
using testing_util::LookupKeys;
using testing_util::LookupResult;
using testing_util::MakeTable;
using testing_util::ReadKeys;
using testing_util::RunStep;
using testing_util::SameStats;
using testing_util::SkewedKeys;

constexpr int64_t kDim = 2;

// DDR mode (HBM mode when host = 0).
TableOptions DdrOptions(int64_t device, int64_t host, int64_t dim = kDim) {
  return testing_util::TieredOptions(device, host, dim);
}

// Device rows of dim 2 with two optimizer-state blocks: width 6.
FakeDevice DdrDevice(int64_t slots) { return FakeDevice(slots, kDim, {0.5f, 0.75f}); }

TEST(TableTieringTest, EvictsLeastRecentlyUsedAndLoadsItBack) {
  auto t = MakeTable(DdrOptions(2, 10));
  FakeDevice dev = DdrDevice(2);
  LookupResult a = RunStep(t.get(), &dev, {1, 2});
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(t->row_width(), 6);  // from the device rows
  EXPECT_EQ(a.needs_init, (std::vector<bool>{true, true}));
  EXPECT_TRUE(a.gathered.empty());
  EXPECT_TRUE(a.scattered.empty());

  LookupResult b = RunStep(t.get(), &dev, {3});  // key 1 is least recently used
  ASSERT_TRUE(b.status.ok()) << b.status.message();
  EXPECT_EQ(b.gathered, std::vector<int64_t>{a.slots[0]});
  EXPECT_TRUE(b.scattered.empty());
  EXPECT_EQ(b.slots[0], a.slots[0]);
  EXPECT_TRUE(b.needs_init[0]);
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), (std::vector<int8_t>{kTierHost, kTierDevice, kTierDevice, kTierAbsent}));
  EXPECT_EQ(dev.Row(a.slots[0]), dev.NewRow(3));  // Fill wrote 3 over the evicted row

  LookupResult c = RunStep(t.get(), &dev, {1});  // evicts 2, brings 1 back
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_FALSE(c.needs_init[0]);
  EXPECT_EQ(c.gathered, std::vector<int64_t>{a.slots[1]});
  EXPECT_EQ(c.scattered, std::vector<int64_t>{a.slots[1]});
  EXPECT_EQ(c.loaded_rows, dev.NewRow(1));  // embedding and optimizer state
  EXPECT_EQ(c.slots[0], a.slots[1]);
  EXPECT_EQ(dev.Row(c.slots[0]), dev.NewRow(1));

  const TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, 2);
  EXPECT_EQ(s.host_keys, 1);
  EXPECT_EQ(s.new_keys, 3);
  EXPECT_EQ(s.loads, 1);
  EXPECT_EQ(s.evictions, 2);
  EXPECT_EQ(s.hits, 0);
  EXPECT_EQ(s.misses, 4);
  EXPECT_EQ(t->size(), 3);
  // 2's row went to the host tier whole.
  const auto read = ReadKeys<int64_t>(*t, {2}, dev);
  ASSERT_TRUE(read.status.ok());
  EXPECT_EQ(read.Row(0, kDim), InitialRow(2, kDim));
}

// A trained row travels: evicted with its update, loaded back with it.
TEST(TableTieringTest, UpdatedRowsSurviveTheRoundTrip) {
  auto t = MakeTable(DdrOptions(1, 4));
  FakeDevice dev = DdrDevice(1);
  LookupResult a = RunStep(t.get(), &dev, {1});
  ASSERT_TRUE(a.status.ok());
  dev.AddToRows({a.slots[0]}, 2.0f);
  std::vector<float> expected = dev.NewRow(1);
  for (float& v : expected) v += 2.0f;
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}).status.ok());  // 1 -> host
  const auto read = ReadKeys<int64_t>(*t, {1}, dev);
  EXPECT_EQ(read.Row(0, kDim), std::vector<float>(expected.begin(), expected.begin() + kDim));
  LookupResult back = RunStep(t.get(), &dev, {1});
  ASSERT_TRUE(back.status.ok());
  EXPECT_EQ(back.loaded_rows, expected);
  EXPECT_EQ(dev.Row(back.slots[0]), expected);
}

TEST(TableTieringTest, SlotsUsedEarlierInTheStepAreNeverEvicted) {
  auto t = MakeTable(DdrOptions(3, 10));
  FakeDevice dev = DdrDevice(3);
  const Table::StepId step = t->BeginStep();
  LookupResult first = LookupKeys<int64_t>(t.get(), step, {1, 2}, &dev);
  ASSERT_TRUE(first.status.ok());
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, {1, 2}, first, &dev).ok());
  LookupResult second = LookupKeys<int64_t>(t.get(), step, {3}, &dev);  // last free slot
  ASSERT_TRUE(second.status.ok());
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, {3}, second, &dev).ok());
  const TableStats before = t->stats();
  const std::vector<int8_t> where = Locate(*t, {1, 2, 3, 4});
  LookupResult r = LookupKeys<int64_t>(t.get(), step, {4, 1}, &dev);  // would need to evict 2 or 3
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status.message(),
            "table 'emb': the device tier (device_vocabulary_size=3) cannot hold the unique keys "
            "of the steps running now: 3 rows are in use and this lookup needs 1 more; enlarge "
            "device_vocabulary_size");
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), where);
  EXPECT_TRUE(r.gathered.empty());
  t->EndStep(step, true);
  // The failed call did not pin anything: the next step may evict.
  LookupResult next = RunStep(t.get(), &dev, {4, 1});
  ASSERT_TRUE(next.status.ok()) << next.status.message();
  EXPECT_EQ(next.gathered.size(), 1u);
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), (std::vector<int8_t>{kTierDevice, kTierHost, kTierDevice, kTierDevice}));
}

TEST(TableTieringTest, FullHostTierChangesNothing) {
  auto t = MakeTable(DdrOptions(1, 1));
  FakeDevice dev = DdrDevice(1);
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}).status.ok());  // 1 -> host, host full
  const TableStats before = t->stats();
  LookupResult r = RunStep(t.get(), &dev, {3});
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("host_vocabulary_size=1"), std::string::npos) << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_TRUE(r.gathered.empty() && r.scattered.empty());
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierHost, kTierDevice, kTierAbsent}));
  // Swapping 1 and 2 fits: 1's host row is freed before 2 needs one.
  LookupResult swap = RunStep(t.get(), &dev, {1});
  ASSERT_TRUE(swap.status.ok()) << swap.status.message();
  EXPECT_EQ(swap.loaded_rows, dev.NewRow(1));
  EXPECT_EQ(Locate(*t, {1, 2}), (std::vector<int8_t>{kTierDevice, kTierHost}));
}

TEST(TableTieringTest, ReadServesBothTiersAndChangesNothing) {
  auto t = MakeTable(DdrOptions(2, 4));
  FakeDevice dev = DdrDevice(2);
  LookupResult a = RunStep(t.get(), &dev, {1, 2});
  ASSERT_TRUE(a.status.ok());
  ASSERT_TRUE(RunStep(t.get(), &dev, {3}).status.ok());  // 1 -> host
  const TableStats before = t->stats();

  // Read 3 then 2: a read that updated LRU order would make 3 the victim.
  const std::vector<int64_t> keys = {3, 2, 1, 99};
  const auto r = ReadKeys<int64_t>(*t, keys, dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.found, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(r.Row(0, kDim), InitialRow(3, kDim));
  EXPECT_EQ(r.Row(1, kDim), InitialRow(2, kDim));
  EXPECT_EQ(r.Row(2, kDim), InitialRow(1, kDim));  // from the host tier
  EXPECT_EQ(r.Row(3, kDim), std::vector<float>(kDim, -7.0f));  // absent: untouched
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, keys), (std::vector<int8_t>{kTierDevice, kTierDevice, kTierHost, kTierAbsent}));

  // Snapshot never exposes a host key's location.
  std::vector<int64_t> snap_keys, snap_slots;
  t->Snapshot(&snap_keys, &snap_slots);
  EXPECT_EQ(snap_keys.size(), 3u);
  for (size_t i = 0; i < snap_keys.size(); ++i) {
    EXPECT_EQ(snap_slots[i] == -1, snap_keys[i] == 1) << snap_keys[i];
    EXPECT_LT(snap_slots[i], 2);
  }

  LookupResult next = RunStep(t.get(), &dev, {4});
  ASSERT_TRUE(next.status.ok());
  EXPECT_EQ(next.gathered, std::vector<int64_t>{a.slots[1]});  // key 2, not 3
}

TEST(TableTieringTest, EraseWorksInBothTiers) {
  auto t = MakeTable(DdrOptions(2, 4));
  FakeDevice dev = DdrDevice(2);
  LookupResult a = RunStep(t.get(), &dev, {1, 2});
  ASSERT_TRUE(RunStep(t.get(), &dev, {3}).status.ok());  // 1 -> host
  const std::vector<int64_t> gone = {1, 2, 42};
  EXPECT_EQ(t->Erase<int64_t>(3, gone.data()), 2);
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierAbsent, kTierAbsent, kTierDevice}));
  TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, 1);
  EXPECT_EQ(s.host_keys, 0);
  EXPECT_EQ(t->size(), 1);
  // 2's slot is free again: a new key takes it without evicting anything.
  LookupResult b = RunStep(t.get(), &dev, {5});
  ASSERT_TRUE(b.status.ok());
  EXPECT_TRUE(b.gathered.empty());
  EXPECT_EQ(b.slots[0], a.slots[1]);
  EXPECT_TRUE(b.needs_init[0]);
  // An erased host key comes back as a new key.
  LookupResult again = RunStep(t.get(), &dev, {1});
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.needs_init[0]);
  EXPECT_TRUE(again.scattered.empty());
}

TEST(TableTieringTest, RepeatedKeysAreRejected) {
  auto t = MakeTable(DdrOptions(4, 4));
  FakeDevice dev = DdrDevice(4);
  LookupResult r = RunStep(t.get(), &dev, {7, 8, 7});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status.message().find("unique"), std::string::npos) << r.status.message();
  EXPECT_EQ(t->size(), 0);
  EXPECT_EQ(t->stats().device_keys, 0);
}

TEST(TableTieringTest, Int32Keys) {
  TableOptions o = DdrOptions(1, 4);
  o.key_dtype = KeyType::kInt32;
  auto t = MakeTable(o);
  FakeDevice dev = DdrDevice(1);
  ASSERT_TRUE(RunStep<int32_t>(t.get(), &dev, {-5}).status.ok());
  LookupResult b = RunStep<int32_t>(t.get(), &dev, {6});
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.gathered.size(), 1u);
  const auto r = ReadKeys<int32_t>(*t, {-5}, dev);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.found, std::vector<bool>{true});
  EXPECT_EQ(testing_util::TierOf(*t, -5), kTierHost);
  EXPECT_EQ(r.Row(0, kDim), InitialRow(-5, kDim));
  EXPECT_EQ(RunStep<int64_t>(t.get(), &dev, {int64_t{1} << 40}).status.code(),
            StatusCode::kInvalidArgument);
}

TEST(TableTieringTest, ValidateNamesTheFields) {
  TableOptions o = DdrOptions(4, -1);
  EXPECT_EQ(o.Validate().message(),
            "host_vocabulary_size must be in [0, 1099511627776], got -1 (table 'emb')");
  o = DdrOptions(4, 8);
  o.dynamic_expansion = true;
  EXPECT_EQ(o.Validate().message(),
            "dynamic_expansion must be false when host_vocabulary_size > 0: with a host tier the "
            "device tier is a fixed-size cache (table 'emb')");
  o.host_vocabulary_size = 0;
  EXPECT_TRUE(o.Validate().ok());  // expansion stays fine in HBM mode
}

// Device rows whose width() is set by the test, to reach the bounds.
class WidthDevice : public FakeDevice {
 public:
  WidthDevice(int64_t rows, int64_t dim, int64_t width) : FakeDevice(rows, dim), width_(width) {}
  int64_t width() const override { return width_; }

 private:
  int64_t width_;
};

// The row width comes from the device rows on each lookup: [dim, kMaxRowWidth].
TEST(TableTieringTest, RowWidthComesFromTheDeviceRows) {
  for (int64_t host : {int64_t{0}, int64_t{8}}) {
    auto t = MakeTable(DdrOptions(4, host, /*dim=*/4));
    EXPECT_EQ(t->row_width(), 4);  // dim until a lookup says otherwise
    for (int64_t bad : {int64_t{3}, TableOptions::kMaxRowWidth + 1}) {
      WidthDevice narrow(4, 4, bad);
      LookupResult r = RunStep(t.get(), &narrow, {1});
      EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument) << bad;
      EXPECT_EQ(r.status.message(), "table 'emb': device rows of " + std::to_string(bad) +
                                        " floats, need [dim=4, 131072]");
      EXPECT_EQ(t->size(), 0);
      EXPECT_EQ(t->row_width(), 4);
    }
    FakeDevice dev(4, 4, {0.0f, 1.0f});
    ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());
    EXPECT_EQ(t->row_width(), 12);
  }
}

// The graph's protocol against a fake device and a reference: every row read
// by slot must equal the reference, across many steps of skewed keys with
// several lookups per step, evictions and loads.
// Run once per cache policy, without and with hot embedding (40 of the 64
// slots may be hot, re-chosen every 20 steps, so steps of up to 90 keys
// regularly take slots back from the hot set).
struct SimulationParam {
  CachePolicy policy;
  int64_t hot_vocabulary_size;
};
class TableTieringSimulationTest : public ::testing::TestWithParam<SimulationParam> {};

TEST_P(TableTieringSimulationTest, RandomizedSimulationMatchesReference) {
  constexpr int64_t kDevice = 64;
  constexpr int64_t kHost = 3000;
  constexpr int64_t kUniverse = 2000;
  TableOptions options = DdrOptions(kDevice, kHost, /*dim=*/4);
  options.cache_policy = GetParam().policy;
  options.hot_vocabulary_size = GetParam().hot_vocabulary_size;
  options.hot_refresh_steps = 20;
  auto t = MakeTable(options);
  testing_util::Simulation sim(kDevice, /*dim=*/4, /*state_init=*/{0.5f, -0.25f});
  const testing_util::Simulation::Reference& reference = sim.reference();
  SkewedKeys draw(/*seed=*/2024, kUniverse);
  int64_t exhausted = 0;
  int64_t hot_shrank = 0;  // steps after which the hot set was smaller

  for (int step = 0; step < 1500; ++step) {
    const int64_t hot_before = t->stats().hot_keys;
    ASSERT_NO_FATAL_FAILURE(sim.SimulateStep(t.get(), &draw, step, &exhausted));
    const TableStats now = t->stats();
    ASSERT_LE(now.hot_keys, options.hot_vocabulary_size);
    hot_shrank += now.hot_keys < hot_before;

    if (step % 100 == 99) {  // eval reads everything, erasing a few keys
      ASSERT_NO_FATAL_FAILURE(sim.CheckAllRows(*t, "eval", step));
      ASSERT_NO_FATAL_FAILURE(sim.EraseSome(t.get(), 10));
    }
  }
  const int64_t evicted = sim.device().evicted(), loaded = sim.device().loaded();

  // The run exercised every path.
  EXPECT_GT(evicted, 1000);
  EXPECT_GT(loaded, 1000);
  EXPECT_GT(exhausted, 0);

  // Every key in exactly one tier; counts add up; no slot shared.
  const std::vector<int64_t> keys = draw.All();
  const std::vector<int8_t> tier = Locate(*t, keys);
  int64_t on_device = 0, on_host = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(tier[i] != kTierAbsent, reference.count(keys[i]) == 1) << keys[i];
    on_device += tier[i] == kTierDevice;
    on_host += tier[i] == kTierHost;
  }
  const TableStats s = t->stats();
  EXPECT_EQ(s.device_keys, on_device);
  EXPECT_EQ(s.host_keys, on_host);
  EXPECT_EQ(on_device + on_host, t->size());
  EXPECT_EQ(t->size(), static_cast<int64_t>(reference.size()));
  EXPECT_LE(on_device, kDevice);
  EXPECT_EQ(s.evictions, evicted);
  EXPECT_EQ(s.loads, loaded);
  EXPECT_EQ(s.misses, s.loads + s.new_keys);
  EXPECT_EQ(s.open_steps, 0);
  EXPECT_EQ(s.rolled_back_keys, 0);
  if (options.hot_mode()) {  // the hot set filled, served hits and gave way
    EXPECT_GT(s.hot_hits, s.hits / 10);
    EXPECT_LT(s.hot_hits, s.hits);
    EXPECT_GT(hot_shrank, 20);
  } else {
    EXPECT_EQ(s.hot_hits, 0);
    EXPECT_EQ(s.hot_keys, 0);
  }
  std::vector<int64_t> snap_keys, snap_slots;
  t->Snapshot(&snap_keys, &snap_slots);
  std::set<int64_t> device_slots;
  for (int64_t slot : snap_slots) {
    if (slot >= 0) {
      ASSERT_TRUE(device_slots.insert(slot).second) << "slot " << slot << " shared";
    }
  }
  EXPECT_EQ(static_cast<int64_t>(device_slots.size()), on_device);
  ASSERT_NO_FATAL_FAILURE(sim.CheckAllRows(*t, "end", -1));
}

INSTANTIATE_TEST_SUITE_P(Policies, TableTieringSimulationTest,
                         ::testing::Values(SimulationParam{CachePolicy::kLru, 0},
                                           SimulationParam{CachePolicy::kLfu, 0},
                                           SimulationParam{CachePolicy::kLru, 40},
                                           SimulationParam{CachePolicy::kLfu, 40}),
                         [](const ::testing::TestParamInfo<SimulationParam>& info) {
                           return std::string(CachePolicyName(info.param.policy)) +
                                  (info.param.hot_vocabulary_size > 0 ? "_hot" : "");
                         });

}  // namespace
}  // namespace asc
