// SSD mode of Table: host rows demoted to RocksDB by LFU, SSD rows loaded back
// to the device inside Lookup like host rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

using testing_util::FakeDevice;
using testing_util::InitialRow;
using testing_util::Locate;
using testing_util::LookupKeys;
using testing_util::LookupResult;
using testing_util::ReadKeys;
using testing_util::RunStep;
using testing_util::SameStats;
using testing_util::SkewedKeys;
using testing_util::SlotsOf;

constexpr int64_t kDim = 2;

class TableSsdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.Create("asc_table_ssd_"));
    root_ = tmp_.root();
  }
  std::string Dir(const std::string& leaf) { return tmp_.Dir(leaf); }
  TableOptions Options(int64_t device, int64_t host, int64_t ssd, int64_t dim = kDim) {
    TableOptions o = testing_util::TieredOptions(device, host, dim);
    o.ssd_vocabulary_size = ssd;
    o.ssd_data_path = {Dir("ssd")};
    o.ssd_min_free_bytes = 0;
    return o;
  }
  std::unique_ptr<Table> Make(const TableOptions& o) { return testing_util::MakeTable(o); }
  testing_util::TempDir tmp_;
  std::string root_;
};

// Device rows of dim 2 with two optimizer-state blocks: width 6.
FakeDevice SsdDevice(int64_t slots) { return FakeDevice(slots, kDim, {0.5f, 0.75f}); }

TEST_F(TableSsdTest, ValidateNamesTheFieldsAndPaths) {
  TableOptions o = Options(4, 0, 8);
  EXPECT_EQ(o.Validate().message(),
            "ssd_vocabulary_size > 0 needs a host tier: host_vocabulary_size must be > 0 too "
            "(table 'emb')");
  o = Options(4, 8, -1);
  EXPECT_EQ(o.Validate().message(),
            "ssd_vocabulary_size must be in [0, 1099511627776], got -1 (table 'emb')");
  o = Options(4, 8, 16);
  o.ssd_data_path.clear();
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("ssd_data_path"), std::string::npos);
  const std::string missing = root_ + "/missing";
  o.ssd_data_path = {Dir("ok"), missing};
  EXPECT_EQ(o.Validate().message(),
            "ssd_data_path: '" + missing + "' does not exist (table 'emb')");
  const std::string file = root_ + "/file";
  std::ofstream(file) << "x";
  o.ssd_data_path = {file};
  EXPECT_EQ(o.Validate().message(),
            "ssd_data_path: '" + file + "' is not a directory (table 'emb')");
  std::unique_ptr<Table> t;
  EXPECT_EQ(Table::Create(o, &t).code(), StatusCode::kInvalidArgument);
  // Paths without an SSD tier are a mistake now (they used to be ignored).
  o.ssd_vocabulary_size = 0;
  EXPECT_EQ(o.Validate().message(),
            "ssd_data_path is only used with ssd_vocabulary_size > 0 (table 'emb')");
  o.ssd_data_path.clear();
  EXPECT_TRUE(o.Validate().ok());
  EXPECT_TRUE(Options(4, 8, 16).Validate().ok());
  o = Options(4, 8, 16);
  o.ssd_min_free_bytes = -1;
  EXPECT_EQ(o.Validate().message(), "ssd_min_free_bytes must be >= 0, got -1 (table 'emb')");
}

TEST_F(TableSsdTest, DemotesLeastFrequentlyUsedAndLoadsBack) {
  auto t = Make(Options(1, 2, 10));
  FakeDevice dev = SsdDevice(1);
  const int64_t w = 6;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());  // 1 is hot
  ASSERT_EQ(t->row_width(), w);
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}).status.ok());  // 1 -> host
  ASSERT_TRUE(RunStep(t.get(), &dev, {3}).status.ok());  // 2 -> host; host full
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierHost, kTierHost, kTierDevice}));
  ASSERT_TRUE(RunStep(t.get(), &dev, {4}).status.ok());  // 3 -> host, demoting 2 (cold)
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierHost, kTierSsd, kTierHost, kTierDevice}));
  TableStats s = t->stats();
  EXPECT_EQ(s.demotions, 1);
  EXPECT_EQ(s.ssd_keys, 1);
  EXPECT_EQ(s.host_keys, 2);
  EXPECT_EQ(s.ssd_writes, 1);
  EXPECT_EQ(s.ssd_bytes_written, w * 4);

  // 2 comes back from SSD like a host row; 4 goes to host, demoting 3.
  LookupResult back = RunStep(t.get(), &dev, {2});
  ASSERT_TRUE(back.status.ok()) << back.status.message();
  EXPECT_FALSE(back.needs_init[0]);
  EXPECT_EQ(back.scattered, std::vector<int64_t>{0});
  EXPECT_EQ(back.loaded_rows, dev.NewRow(2));  // embedding and optimizer state
  EXPECT_EQ(back.gathered, std::vector<int64_t>{0});
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierHost, kTierDevice, kTierSsd, kTierHost}));
  s = t->stats();
  EXPECT_EQ(s.ssd_loads, 1);
  EXPECT_EQ(s.loads, 1);
  EXPECT_EQ(s.ssd_reads, 1);
  EXPECT_EQ(s.demotions, 2);
  EXPECT_EQ(s.ssd_keys, 1);
  EXPECT_EQ(s.misses, s.loads + s.new_keys);
  EXPECT_EQ(t->size(), 4);
  EXPECT_EQ(s.device_keys + s.host_keys + s.ssd_keys, 4);

  // Snapshot hides off-device keys' locations; Read serves every tier; Erase
  // reaches SSD.
  EXPECT_EQ(SlotsOf<int64_t>(*t, {1, 2, 3, 4}), (std::vector<int64_t>{-1, 0, -1, -1}));
  const auto read = ReadKeys<int64_t>(*t, {1, 2, 3, 4}, dev);
  ASSERT_TRUE(read.status.ok()) << read.status.message();
  for (int64_t k = 1; k <= 4; ++k) EXPECT_EQ(read.Row(k - 1, kDim), InitialRow(k, kDim)) << k;
  EXPECT_EQ(t->stats().ssd_reads, 2);  // the read of 3
  const std::vector<int64_t> gone = {3};
  EXPECT_EQ(t->Erase<int64_t>(1, gone.data()), 1);
  EXPECT_EQ(t->stats().ssd_keys, 0);
  EXPECT_EQ(Locate(*t, {3}), std::vector<int8_t>{kTierAbsent});
}

TEST_F(TableSsdTest, EveryTierFullChangesNothing) {
  auto t = Make(Options(1, 1, 1));
  FakeDevice dev = SsdDevice(1);
  for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(RunStep(t.get(), &dev, {k}).status.ok());
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierSsd, kTierHost, kTierDevice}));
  const TableStats before = t->stats();
  LookupResult r = RunStep(t.get(), &dev, {4});
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("device_vocabulary_size=1, host_vocabulary_size=1, "
                                    "ssd_vocabulary_size=1"),
            std::string::npos)
      << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_TRUE(r.gathered.empty() && r.scattered.empty());
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierSsd, kTierHost, kTierDevice, kTierAbsent}));
  // Cycling the held keys still fits: 1 leaves SSD as 2 is demoted.
  LookupResult cycle = RunStep(t.get(), &dev, {1});
  ASSERT_TRUE(cycle.status.ok()) << cycle.status.message();
  EXPECT_EQ(cycle.loaded_rows, dev.NewRow(1));
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierDevice, kTierSsd, kTierHost}));
}

TEST_F(TableSsdTest, WriteFaultDuringDemotionChangesNothingAndRetrySucceeds) {
  auto t = Make(Options(2, 4, 100));
  FakeDevice dev = SsdDevice(2);
  for (int64_t k = 1; k <= 6; ++k) ASSERT_TRUE(RunStep(t.get(), &dev, {k}).status.ok());
  // 2 on device, 4 on host (full): the next new key demotes one host row.
  const std::vector<int64_t> held = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<int8_t> where = Locate(*t, held);
  const auto rows_before = ReadKeys<int64_t>(*t, held, dev);
  ASSERT_TRUE(rows_before.status.ok());
  const TableStats before = t->stats();
  ASSERT_EQ(before.host_keys, 4);

  t->SetSsdWriteFaultForTesting(true);
  const Table::StepId step = t->BeginStep();
  LookupResult failed = LookupKeys<int64_t>(t.get(), step, {7}, &dev);
  EXPECT_EQ(failed.status.code(), StatusCode::kInternal);
  EXPECT_NE(failed.status.message().find("lookup of table 'emb'"), std::string::npos)
      << failed.status.message();
  EXPECT_NE(failed.status.message().find(t->ssd_directories()[0]), std::string::npos)
      << failed.status.message();
  EXPECT_TRUE(failed.gathered.empty() && failed.scattered.empty());
  EXPECT_TRUE(SameStats(t->stats(), [&] {
    TableStats b = before;
    b.open_steps = 1;
    return b;
  }()));
  EXPECT_EQ(Locate(*t, held), where);
  const auto rows_after = ReadKeys<int64_t>(*t, held, dev);
  EXPECT_EQ(rows_after.rows, rows_before.rows);
  EXPECT_EQ(rows_after.found, rows_before.found);

  // The same call succeeds, in the same step, once the cause is gone.
  t->SetSsdWriteFaultForTesting(false);
  LookupResult retry = LookupKeys<int64_t>(t.get(), step, {7}, &dev);
  ASSERT_TRUE(retry.status.ok()) << retry.status.message();
  EXPECT_TRUE(retry.needs_init[0]);
  ASSERT_TRUE(testing_util::FillNew<int64_t>(t.get(), step, {7}, retry, &dev).ok());
  t->EndStep(step, true);
  EXPECT_EQ(t->stats().demotions, 1);
  EXPECT_EQ(t->stats().ssd_keys, 1);
  // Every row is what it was; 7 is new.
  const auto all = ReadKeys<int64_t>(*t, held, dev);
  ASSERT_TRUE(all.status.ok());
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(all.found[i]);
    EXPECT_EQ(all.Row(i, kDim), InitialRow(held[i], kDim)) << held[i];
  }
}

TEST_F(TableSsdTest, DemotionsFallBackToTheNextPathAndFailWhenAllAreFull) {
  TableOptions o = Options(1, 1, 10);
  const std::string a = Dir("a"), b = Dir("b");
  o.ssd_data_path = {a, b};
  auto t = Make(o);
  FakeDevice dev = SsdDevice(1);
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());  // sets the row width
  const std::vector<std::string> dirs = t->ssd_directories();
  ASSERT_EQ(dirs.size(), 2u);
  EXPECT_EQ(dirs[0].rfind(a + "/mx_rec_ssd.emb.", 0), 0u) << dirs[0];
  EXPECT_EQ(dirs[1].rfind(b + "/mx_rec_ssd.emb.", 0), 0u) << dirs[1];
  t->SetSsdMinFreeBytesForTesting(0, std::numeric_limits<int64_t>::max());
  for (int64_t k = 2; k <= 3; ++k) ASSERT_TRUE(RunStep(t.get(), &dev, {k}).status.ok());
  EXPECT_EQ(t->stats().ssd_keys, 1);
  t->SetSsdMinFreeBytesForTesting(1, std::numeric_limits<int64_t>::max());
  const TableStats before = t->stats();
  const std::vector<int8_t> where = Locate(*t, {1, 2, 3, 4});
  LookupResult r = RunStep(t.get(), &dev, {4});
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("'" + a + "'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("'" + b + "'"), std::string::npos) << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), where);
  t->SetSsdMinFreeBytesForTesting(1, 0);
  ASSERT_TRUE(RunStep(t.get(), &dev, {4}).status.ok());
  EXPECT_EQ(t->stats().ssd_keys, 2);
  // Read back through both paths.
  const auto rows = ReadKeys<int64_t>(*t, {1, 2}, dev);
  ASSERT_TRUE(rows.status.ok()) << rows.status.message();
  EXPECT_EQ(Locate(*t, {1, 2}), (std::vector<int8_t>{kTierSsd, kTierSsd}));
  EXPECT_EQ(rows.Row(0, kDim), InitialRow(1, kDim));
  EXPECT_EQ(rows.Row(1, kDim), InitialRow(2, kDim));
}

// The first lookup learns the row width from the device rows (6 here, dim 2)
// and re-creates the empty SSD tier for it. What the caller set up on the
// table before (its SSD directories, the SSD test hooks the Python binding
// exposes) must still hold afterwards.
TEST_F(TableSsdTest, SsdSetupSurvivesTheFirstLookup) {
  auto t = Make(Options(1, 1, 10));
  FakeDevice dev = SsdDevice(1);
  const std::vector<std::string> dirs = t->ssd_directories();
  t->SetSsdWriteFaultForTesting(true);
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());
  ASSERT_EQ(t->row_width(), 6);
  EXPECT_EQ(t->ssd_directories(), dirs);
  for (const std::string& d : t->ssd_directories()) EXPECT_TRUE(fs::is_directory(d)) << d;
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}).status.ok());  // 1 -> host, host full
  // The fault set before the first lookup is still on: the demotion fails.
  LookupResult r = RunStep(t.get(), &dev, {3});
  EXPECT_EQ(r.status.code(), StatusCode::kInternal) << r.status.message();
  EXPECT_EQ(t->stats().ssd_keys, 0);
}

TEST_F(TableSsdTest, DataDirectoriesGoAwayWithTheTable) {
  auto t = Make(Options(1, 1, 10));
  const std::vector<std::string> dirs = t->ssd_directories();
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_TRUE(fs::is_directory(dirs[0]));
  FakeDevice dev = SsdDevice(1);
  for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(RunStep(t.get(), &dev, {k}).status.ok());
  ASSERT_EQ(t->stats().ssd_keys, 1);
  const std::vector<std::string> now = t->ssd_directories();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_TRUE(fs::is_directory(now[0]));
  t.reset();
  EXPECT_FALSE(fs::exists(dirs[0]));
  EXPECT_FALSE(fs::exists(now[0]));
  // Nothing else is left under the path.
  EXPECT_TRUE(fs::is_empty(Dir("ssd")));
}

// The graph's protocol against a fake device and a reference, with all three
// tiers busy: every row read by slot must match the reference.
TEST_F(TableSsdTest, RandomizedSimulationMatchesReference) {
  constexpr int64_t kDevice = 64;
  constexpr int64_t kHost = 128;
  constexpr int64_t kUniverse = 2000;
  auto t = Make(Options(kDevice, kHost, /*ssd=*/100000, /*dim=*/4));
  testing_util::Simulation sim(kDevice, /*dim=*/4, /*state_init=*/{0.5f, -0.25f});
  const int64_t w = 12;
  testing_util::Simulation::Reference& reference = sim.reference();
  SkewedKeys draw(/*seed=*/7, kUniverse);
  int64_t exhausted = 0;

  for (int step = 0; step < 600; ++step) {
    ASSERT_NO_FATAL_FAILURE(sim.SimulateStep(t.get(), &draw, step, &exhausted));
    // Every key's row against the reference, each step (eval path, all tiers).
    ASSERT_NO_FATAL_FAILURE(sim.CheckAllRows(*t, "step", step));
    if (step % 100 == 99) {  // erase a few keys, some of them on SSD
      ASSERT_NO_FATAL_FAILURE(sim.EraseSome(t.get(), 10));
    }
  }
  ASSERT_EQ(t->row_width(), w);
  const int64_t evicted = sim.device().evicted(), loaded = sim.device().loaded();

  const TableStats s = t->stats();
  EXPECT_GT(evicted, 1000);
  EXPECT_GT(loaded, 1000);
  EXPECT_GT(exhausted, 0);
  EXPECT_GT(s.demotions, 500);
  EXPECT_GT(s.ssd_loads, 500);
  EXPECT_GT(s.ssd_reads, s.ssd_loads);  // Read read SSD keys too
  EXPECT_GT(s.ssd_bytes_read, 0);
  EXPECT_EQ(s.ssd_bytes_written, s.ssd_writes * w * 4);
  EXPECT_EQ(s.ssd_writes, s.demotions);

  // Every key in exactly one tier; counts add up.
  const std::vector<int64_t> keys = draw.All();
  const std::vector<int8_t> tier = Locate(*t, keys);
  int64_t on_device = 0, on_host = 0, on_ssd = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(tier[i] != kTierAbsent, reference.count(keys[i]) == 1) << keys[i];
    on_device += tier[i] == kTierDevice;
    on_host += tier[i] == kTierHost;
    on_ssd += tier[i] == kTierSsd;
  }
  EXPECT_EQ(s.device_keys, on_device);
  EXPECT_EQ(s.host_keys, on_host);
  EXPECT_EQ(s.ssd_keys, on_ssd);
  EXPECT_GT(on_ssd, 0);
  EXPECT_LE(on_device, kDevice);
  EXPECT_LE(on_host, kHost);
  EXPECT_EQ(on_device + on_host + on_ssd, t->size());
  EXPECT_EQ(t->size(), static_cast<int64_t>(reference.size()));
  EXPECT_EQ(s.evictions, evicted);
  EXPECT_EQ(s.loads, loaded);
  EXPECT_EQ(s.misses, s.loads + s.new_keys);

  // The write-fault scenario mid-run: a lookup of new keys must demote.
  std::vector<int64_t> fresh;
  for (int64_t k = 0; k < 40; ++k) fresh.push_back(1000000 + k);
  FakeDevice& dev = sim.device();
  t->SetSsdWriteFaultForTesting(true);
  const Table::StepId step = t->BeginStep();
  const TableStats before = t->stats();
  LookupResult failed = LookupKeys<int64_t>(t.get(), step, fresh, &dev);
  ASSERT_EQ(failed.status.code(), StatusCode::kInternal) << failed.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_TRUE(failed.gathered.empty() && failed.scattered.empty());
  EXPECT_EQ(Locate(*t, keys), tier);
  ASSERT_NO_FATAL_FAILURE(sim.CheckAllRows(*t, "after fault", -1));
  t->SetSsdWriteFaultForTesting(false);
  LookupResult retry = LookupKeys<int64_t>(t.get(), step, fresh, &dev);
  ASSERT_TRUE(retry.status.ok()) << retry.status.message();
  ASSERT_NO_FATAL_FAILURE(sim.Fill(t.get(), step, fresh, retry));
  t->EndStep(step, true);
  // Set here too, not only by Fill for keys it saw as new: a fresh key wrongly
  // reported as existing must still be checked against its initial row.
  for (int64_t k : fresh) reference[k] = dev.NewRow(k);
  EXPECT_GT(t->stats().demotions, before.demotions);
  ASSERT_NO_FATAL_FAILURE(sim.CheckAllRows(*t, "after retry", -1));
}

}  // namespace
}  // namespace asc
