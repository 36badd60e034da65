// SSD mode of Table: host rows demoted to RocksDB by LFU, SSD rows loaded back
// through the same PlanLookup / CommitEvicted protocol as host rows.
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
using testing_util::Lookup;
using testing_util::SameStats;
using testing_util::SkewedKeys;

// Lookups are int64 throughout this file.
Lookup Plan(Table* t, const std::vector<int64_t>& keys, bool begin_step) {
  return testing_util::Plan<int64_t>(t, keys, begin_step);
}

class TableSsdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.Create("asc_table_ssd_"));
    root_ = tmp_.root();
  }
  std::string Dir(const std::string& leaf) { return tmp_.Dir(leaf); }
  TableOptions Options(int64_t device, int64_t host, int64_t ssd, int64_t dim = 2,
                       int64_t row_width = 5) {
    TableOptions o = testing_util::TieredOptions(device, host, dim, row_width);
    o.ssd_capacity = ssd;
    o.ssd_paths = {Dir("ssd")};
    o.ssd_min_free_bytes = 0;
    return o;
  }
  std::unique_ptr<Table> Make(const TableOptions& o) { return testing_util::MakeTable(o); }
  testing_util::TempDir tmp_;
  std::string root_;
};

TEST_F(TableSsdTest, ValidateNamesTheFieldsAndPaths) {
  TableOptions o = Options(4, 0, 8);
  EXPECT_EQ(o.Validate().message(),
            "ssd_vocabulary_size > 0 needs a host tier (host_vocabulary_size > 0) (table 'emb')");
  o = Options(4, 8, -1);
  EXPECT_EQ(o.Validate().message(),
            "ssd_capacity (ssd_vocabulary_size) must be in [0, 1099511627776], got -1 (table 'emb')");
  o = Options(4, 8, 16);
  o.ssd_paths.clear();
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("ssd_paths"), std::string::npos);
  const std::string missing = root_ + "/missing";
  o.ssd_paths = {Dir("ok"), missing};
  EXPECT_EQ(o.Validate().message(),
            "ssd_paths (ssd_data_path): '" + missing + "' does not exist (table 'emb')");
  const std::string file = root_ + "/file";
  std::ofstream(file) << "x";
  o.ssd_paths = {file};
  EXPECT_EQ(o.Validate().message(),
            "ssd_paths (ssd_data_path): '" + file + "' is not a directory (table 'emb')");
  std::unique_ptr<Table> t;
  EXPECT_EQ(Table::Create(o, &t).code(), StatusCode::kInvalidArgument);
  o.ssd_capacity = 0;  // paths are ignored without an SSD tier
  EXPECT_TRUE(o.Validate().ok());
  EXPECT_TRUE(Options(4, 8, 16).Validate().ok());
}

TEST_F(TableSsdTest, DemotesLeastFrequentlyUsedAndLoadsBack) {
  auto t = Make(Options(1, 2, 10));
  const int64_t w = t->row_width();
  FakeDevice device(/*slots=*/1, w, /*fill=*/0.0f);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(device.Step(t.get(), {1}, true).status.ok());  // 1 is hot
  ASSERT_TRUE(device.Step(t.get(), {2}, true).status.ok());  // 1 -> host
  ASSERT_TRUE(device.Step(t.get(), {3}, true).status.ok());  // 2 -> host; host full
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierHost, kTierHost, kTierDevice}));
  ASSERT_TRUE(device.Step(t.get(), {4}, true).status.ok());  // 3 -> host, demoting 2 (cold)
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierHost, kTierSsd, kTierHost, kTierDevice}));
  TableStats s = t->stats();
  EXPECT_EQ(s.demotions, 1);
  EXPECT_EQ(s.ssd_keys, 1);
  EXPECT_EQ(s.host_keys, 2);
  EXPECT_EQ(s.ssd_writes, 1);
  EXPECT_EQ(s.ssd_bytes_written, w * 4);

  // 2 comes back from SSD like a host row; 4 goes to host, demoting 3.
  Lookup back = device.Step(t.get(), {2}, true);
  ASSERT_TRUE(back.status.ok()) << back.status.message();
  EXPECT_FALSE(back.is_new[0]);
  EXPECT_EQ(back.plan.load_slots, std::vector<int64_t>{0});
  EXPECT_EQ(back.plan.load_rows, InitialRow(2, w));
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

  // Find / Snapshot hide off-device keys; Erase reaches SSD.
  std::vector<int64_t> slots(4);
  const std::vector<int64_t> keys = {1, 2, 3, 4};
  t->Find<int64_t>(4, keys.data(), slots.data());
  EXPECT_EQ(slots, (std::vector<int64_t>{-1, 0, -1, -1}));
  const std::vector<int64_t> gone = {3};
  EXPECT_EQ(t->Erase<int64_t>(1, gone.data()), 1);
  EXPECT_EQ(t->stats().ssd_keys, 0);
  EXPECT_EQ(Locate(*t, {3}), std::vector<int8_t>{kTierAbsent});
}

TEST_F(TableSsdTest, EveryTierFullChangesNothing) {
  auto t = Make(Options(1, 1, 1));
  FakeDevice device(/*slots=*/1, /*width=*/5, /*fill=*/0.0f);
  for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(device.Step(t.get(), {k}, true).status.ok());
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierSsd, kTierHost, kTierDevice}));
  const TableStats before = t->stats();
  Lookup r = Plan(t.get(), {4}, true);
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("device_vocabulary_size=1, host_vocabulary_size=1, "
                                    "ssd_vocabulary_size=1"),
            std::string::npos)
      << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierSsd, kTierHost, kTierDevice, kTierAbsent}));
  // Cycling the held keys still fits: 1 leaves SSD as 2 is demoted.
  Lookup cycle = device.Step(t.get(), {1}, true);
  ASSERT_TRUE(cycle.status.ok()) << cycle.status.message();
  EXPECT_EQ(cycle.plan.load_rows, InitialRow(1, 5));
  EXPECT_EQ(Locate(*t, {1, 2, 3}), (std::vector<int8_t>{kTierDevice, kTierSsd, kTierHost}));
}

TEST_F(TableSsdTest, WriteFaultDuringDemotionChangesNothingAndRetrySucceeds) {
  auto t = Make(Options(2, 4, 100));
  const int64_t w = t->row_width();
  FakeDevice device(/*slots=*/2, w, /*fill=*/0.0f);
  for (int64_t k = 1; k <= 6; ++k) ASSERT_TRUE(device.Step(t.get(), {k}, true).status.ok());
  // 2 on device, 4 on host (full): the next new key demotes one host row.
  const std::vector<int64_t> held = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<int8_t> where = Locate(*t, held);
  std::vector<int64_t> slots(held.size());
  std::vector<float> rows_before(held.size() * w, 0.0f);
  std::unique_ptr<bool[]> found(new bool[held.size()]);
  ASSERT_TRUE(t->FindRows<int64_t>(7, held.data(), slots.data(), rows_before.data(), found.get()).ok());
  const TableStats before = t->stats();
  ASSERT_EQ(before.host_keys, 4);

  t->SetSsdWriteFaultForTesting(true);
  Lookup failed = Plan(t.get(), {7}, true);
  EXPECT_EQ(failed.status.code(), StatusCode::kInternal);
  EXPECT_NE(failed.status.message().find("PlanLookup on table 'emb'"), std::string::npos)
      << failed.status.message();
  EXPECT_NE(failed.status.message().find(t->ssd_directories()[0]), std::string::npos)
      << failed.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, held), where);
  std::vector<float> rows_after(held.size() * w, 0.0f);
  ASSERT_TRUE(t->FindRows<int64_t>(7, held.data(), slots.data(), rows_after.data(), found.get()).ok());
  EXPECT_EQ(rows_after, rows_before);
  // Nothing outstanding: the failed plan was not applied.
  EXPECT_TRUE(t->CommitEvicted(0, nullptr).ok());

  t->SetSsdWriteFaultForTesting(false);
  Lookup retry = device.Step(t.get(), {7}, true);
  ASSERT_TRUE(retry.status.ok()) << retry.status.message();
  EXPECT_TRUE(retry.is_new[0]);
  EXPECT_EQ(t->stats().demotions, 1);
  EXPECT_EQ(t->stats().ssd_keys, 1);
  // Every row is still what it was (7 is new).
  ASSERT_TRUE(t->FindRows<int64_t>(6, held.data(), slots.data(), rows_after.data(), found.get()).ok());
  for (size_t i = 0; i < 6; ++i) {
    const float* row = slots[i] >= 0 ? device.rows().data() + slots[i] * w : rows_after.data() + i * w;
    EXPECT_EQ(std::vector<float>(row, row + w), InitialRow(held[i], w)) << held[i];
  }
}

TEST_F(TableSsdTest, DemotionsFallBackToTheNextPathAndFailWhenAllAreFull) {
  TableOptions o = Options(1, 1, 10);
  const std::string a = Dir("a"), b = Dir("b");
  o.ssd_paths = {a, b};
  auto t = Make(o);
  ASSERT_EQ(t->ssd_directories(), (std::vector<std::string>{a + "/emb", b + "/emb"}));
  FakeDevice device(/*slots=*/1, /*width=*/5, /*fill=*/0.0f);
  t->SetSsdMinFreeBytesForTesting(0, std::numeric_limits<int64_t>::max());
  for (int64_t k = 1; k <= 3; ++k) ASSERT_TRUE(device.Step(t.get(), {k}, true).status.ok());
  EXPECT_EQ(t->stats().ssd_keys, 1);
  t->SetSsdMinFreeBytesForTesting(1, std::numeric_limits<int64_t>::max());
  const TableStats before = t->stats();
  const std::vector<int8_t> where = Locate(*t, {1, 2, 3, 4});
  Lookup r = Plan(t.get(), {4}, true);
  EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status.message().find("'" + a + "'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("'" + b + "'"), std::string::npos) << r.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}), where);
  t->SetSsdMinFreeBytesForTesting(1, 0);
  ASSERT_TRUE(device.Step(t.get(), {4}, true).status.ok());
  // Read back through both paths.
  const std::vector<int64_t> keys = {1, 2};
  std::vector<int64_t> slots(2);
  std::vector<float> rows(10, 0.0f);
  std::unique_ptr<bool[]> found(new bool[2]);
  ASSERT_TRUE(t->FindRows<int64_t>(2, keys.data(), slots.data(), rows.data(), found.get()).ok());
  EXPECT_EQ(std::vector<float>(rows.begin(), rows.begin() + 5), InitialRow(1, 5));
  EXPECT_EQ(std::vector<float>(rows.begin() + 5, rows.end()), InitialRow(2, 5));
}

TEST_F(TableSsdTest, DataDirectoriesGoAwayWithTheTable) {
  auto t = Make(Options(1, 1, 10));
  const std::vector<std::string> dirs = t->ssd_directories();
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_TRUE(fs::is_directory(dirs[0]));
  t.reset();
  EXPECT_FALSE(fs::exists(dirs[0]));
}

// The graph's protocol against a fake device and a reference, with all three
// tiers busy: every row read by slot must match the reference.
TEST_F(TableSsdTest, RandomizedSimulationMatchesReference) {
  constexpr int64_t kDevice = 64;
  constexpr int64_t kHost = 128;
  constexpr int64_t kUniverse = 2000;
  auto t = Make(Options(kDevice, kHost, /*ssd=*/100000, /*dim=*/4, /*row_width=*/12));
  const int64_t w = t->row_width();
  FakeDevice device(kDevice, w, /*fill=*/-1000.0f);
  FakeDevice::Reference& reference = device.reference();
  SkewedKeys draw(/*seed=*/7, kUniverse);
  int64_t exhausted = 0;

  for (int step = 0; step < 600; ++step) {
    ASSERT_NO_FATAL_FAILURE(
        testing_util::SimulateStep(t.get(), &device, &draw, kDevice, step, &exhausted));
    // Every key's row against the reference, each step (eval path, all tiers).
    ASSERT_NO_FATAL_FAILURE(device.CheckAllRows(*t, "step", step));
    if (step % 100 == 99) {  // erase a few keys, some of them on SSD
      ASSERT_NO_FATAL_FAILURE(device.EraseSome(t.get(), 10));
    }
  }
  const int64_t evicted = device.evicted(), loaded = device.loaded();

  const TableStats s = t->stats();
  EXPECT_GT(evicted, 1000);
  EXPECT_GT(loaded, 1000);
  EXPECT_GT(exhausted, 0);
  EXPECT_GT(s.demotions, 500);
  EXPECT_GT(s.ssd_loads, 500);
  EXPECT_GT(s.ssd_reads, s.ssd_loads);  // FindRows read SSD keys too
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
  t->SetSsdWriteFaultForTesting(true);
  const TableStats before = t->stats();
  Lookup failed = Plan(t.get(), fresh, true);
  ASSERT_EQ(failed.status.code(), StatusCode::kInternal) << failed.status.message();
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Locate(*t, keys), tier);
  ASSERT_NO_FATAL_FAILURE(device.CheckAllRows(*t, "after fault", -1));
  t->SetSsdWriteFaultForTesting(false);
  Lookup retry = device.Step(t.get(), fresh, true);
  ASSERT_TRUE(retry.status.ok()) << retry.status.message();
  // Set here too, not only by Step for keys it saw as new: a fresh key wrongly
  // reported as existing must still be checked against its initial row.
  for (int64_t k : fresh) reference[k] = InitialRow(k, w);
  EXPECT_GT(t->stats().demotions, before.demotions);
  ASSERT_NO_FATAL_FAILURE(device.CheckAllRows(*t, "after retry", -1));
}

}  // namespace
}  // namespace asc
