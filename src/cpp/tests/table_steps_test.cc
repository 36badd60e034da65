// Steps of Table (BeginStep / Lookup / Fill / EndStep): pins held by open
// steps, rollback, uninitialised keys, admission undo, zombie slots, the row
// width learnt from DeviceRows, all-or-nothing failures in every mode, and
// several threads running steps on one DDR table.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

using testing_util::Contents;
using testing_util::FakeDevice;
using testing_util::FillNew;
using testing_util::InitialRow;
using testing_util::Locate;
using testing_util::LookupKeys;
using testing_util::LookupResult;
using testing_util::ReadKeys;
using testing_util::ReadResult;
using testing_util::RunStep;
using testing_util::SameStats;
using testing_util::TierOf;

constexpr int64_t kDim = 2;

AdmissionOptions Thresholds(int64_t access, int64_t eviction) {
  AdmissionOptions o;
  o.access_threshold = access;
  o.eviction_threshold = eviction;
  return o;
}

std::vector<int64_t> Sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Admission records as key -> (count, last seen).
std::map<int64_t, std::pair<int64_t, int64_t>> AdmissionRecords(const Table& t) {
  std::vector<int64_t> keys, counts, seen;
  const Status s = t.ExportAdmission(&keys, &counts, &seen);
  EXPECT_TRUE(s.ok()) << s.message();
  std::map<int64_t, std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < keys.size(); ++i) out[keys[i]] = {counts[i], seen[i]};
  return out;
}

// A table in one of the three modes, with its device rows (dim 2, one
// optimizer-state block) and, for SSD mode, a scratch directory.
using testing_util::Mode;
using testing_util::ModeName;
using testing_util::ModeParamName;

class ModeTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override { ASSERT_TRUE(tmp_.Create("asc_table_steps_")); }
  // HBM: `device` rows; DDR: plus `host`; SSD: plus `ssd`.
  void Make(int64_t device, int64_t host, int64_t ssd) {
    TableOptions o = testing_util::TieredOptions(device, 0, kDim);
    if (GetParam() != Mode::kHbm) o.host_vocabulary_size = host;
    if (GetParam() == Mode::kSsd) {
      o.ssd_vocabulary_size = ssd;
      o.ssd_data_path = {tmp_.Dir("ssd")};
      o.ssd_min_free_bytes = 0;
    }
    table_ = testing_util::MakeTable(o);
    dev_.reset(new FakeDevice(device, kDim, {0.5f}));
  }
  Table* t() { return table_.get(); }
  FakeDevice* dev() { return dev_.get(); }

  testing_util::TempDir tmp_;
  std::unique_ptr<Table> table_;
  std::unique_ptr<FakeDevice> dev_;
};


// ---- 1. pins across concurrent steps -------------------------------------------

// Step A looks up keys 1, 2 (the least recently used), then step B, opened
// while A is open, needs victims: none of A's slots may go, however old,
// until A ends; then they may. A's update made meanwhile lands on its rows.
TEST(TableStepsTest, PinsHoldAcrossConcurrentSteps) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(6, 100, kDim));
  FakeDevice dev(6, kDim, {0.5f});
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2, 3, 4, 5, 6}).status.ok());
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1, 2}, &dev);
  ASSERT_TRUE(ra.status.ok()) << ra.status.message();
  EXPECT_EQ(ra.needs_init, (std::vector<bool>{false, false}));
  // Another step uses 3..6 and ends: 1, 2 are now the least recently used.
  ASSERT_TRUE(RunStep(t.get(), &dev, {3, 4, 5, 6}).status.ok());

  const Table::StepId b = t->BeginStep();
  EXPECT_EQ(t->stats().open_steps, 2);
  LookupResult rb = LookupKeys<int64_t>(t.get(), b, {7, 8}, &dev);
  ASSERT_TRUE(rb.status.ok()) << rb.status.message();
  ASSERT_EQ(rb.gathered.size(), 2u);
  for (int64_t s : rb.gathered) {
    EXPECT_NE(s, ra.slots[0]);
    EXPECT_NE(s, ra.slots[1]);
  }
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {7, 8}, rb, &dev).ok());
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierDevice, kTierDevice, kTierHost, kTierHost}));
  // A trains its rows while B runs.
  dev.AddToRows(ra.slots, 1.0f);

  // B needs 4 more slots; only 5's and 6's are not pinned.
  const TableStats before = t->stats();
  LookupResult too_many = LookupKeys<int64_t>(t.get(), b, {9, 10, 11, 12}, &dev);
  EXPECT_EQ(too_many.status.code(), StatusCode::kResourceExhausted) << too_many.status.message();
  EXPECT_TRUE(too_many.gathered.empty());
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);

  t->EndStep(a, true);
  const int64_t slot5 = testing_util::SlotsOf<int64_t>(*t, {5})[0];
  const int64_t slot6 = testing_util::SlotsOf<int64_t>(*t, {6})[0];
  LookupResult after = LookupKeys<int64_t>(t.get(), b, {9, 10, 11, 12}, &dev);
  ASSERT_TRUE(after.status.ok()) << after.status.message();
  EXPECT_EQ(Sorted(after.gathered), Sorted({ra.slots[0], ra.slots[1], slot5, slot6}));
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {9, 10, 11, 12}, after, &dev).ok());
  t->EndStep(b, true);
  EXPECT_EQ(Locate(*t, {1, 2}), (std::vector<int8_t>{kTierHost, kTierHost}));
  // A's update went to the host tier with the rows.
  const ReadResult r = ReadKeys<int64_t>(*t, {1, 2}, dev);
  ASSERT_TRUE(r.status.ok());
  for (size_t i = 0; i < 2; ++i) {
    std::vector<float> expected = InitialRow(static_cast<int64_t>(i + 1), kDim);
    for (float& v : expected) v += 1.0f;
    EXPECT_EQ(r.Row(i, kDim), expected) << i + 1;
  }
  EXPECT_EQ(dev.bad_slots(), 0);
}

// ---- 2. every slot pinned ---------------------------------------------------------

TEST(TableStepsTest, ResourceExhaustedWhenOpenStepsPinEverySlotChangesNothing) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(4, 100, kDim));
  FakeDevice dev(4, kDim, {0.5f});
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2, 3, 4}).status.ok());
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1, 2}, &dev);
  ASSERT_TRUE(ra.status.ok());
  const Table::StepId b = t->BeginStep();
  ASSERT_TRUE(LookupKeys<int64_t>(t.get(), b, {3, 4}, &dev).status.ok());

  const Table::StepId c = t->BeginStep();
  const std::vector<int64_t> all = {1, 2, 3, 4, 5, 6};
  const TableStats before = t->stats();
  const std::vector<int8_t> where = Locate(*t, all);
  const auto contents = Contents(*t);
  for (const std::vector<int64_t>& keys : {std::vector<int64_t>{5}, std::vector<int64_t>{1, 5},
                                           std::vector<int64_t>{6, 5}}) {
    LookupResult r = LookupKeys<int64_t>(t.get(), c, keys, &dev);
    EXPECT_EQ(r.status.code(), StatusCode::kResourceExhausted) << r.status.message();
    EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("device_vocabulary_size=4"), std::string::npos)
        << r.status.message();
    EXPECT_NE(r.status.message().find("4 rows are in use"), std::string::npos)
        << r.status.message();
    EXPECT_TRUE(r.gathered.empty() && r.scattered.empty());
    EXPECT_TRUE(SameStats(t->stats(), before));
    EXPECT_EQ(Locate(*t, all), where);
    EXPECT_EQ(Contents(*t), contents);
  }
  // The failed lookups pinned nothing: once A and C end, the next step may
  // take exactly A's slots (B still pins the others).
  t->EndStep(c, true);
  t->EndStep(a, true);
  LookupResult next = RunStep(t.get(), &dev, {5, 6});
  ASSERT_TRUE(next.status.ok()) << next.status.message();
  EXPECT_EQ(Sorted(next.gathered), Sorted(ra.slots));
  EXPECT_EQ(Locate(*t, all), (std::vector<int8_t>{kTierHost, kTierHost, kTierDevice, kTierDevice,
                                                  kTierDevice, kTierDevice}));
  t->EndStep(b, true);
  EXPECT_EQ(t->stats().open_steps, 0);
}

// ---- 3. rollback --------------------------------------------------------------------

// Keys 1, 2 exist (DDR/SSD: off the device). Step A looks up 1 and inserts
// 3, 4; step B, open meanwhile, looks up 4. A rolled back takes back 3 only:
// 1 existed, 4 was adopted by B. 3's slot is free for the next new key.
// Committed, A keeps everything.
TEST_P(ModeTest, RollbackTakesBackOnlyTheKeysTheStepInserted) {
  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "commit" : "rollback");
    Make(/*device=*/GetParam() == Mode::kHbm ? 8 : 4, /*host=*/GetParam() == Mode::kSsd ? 4 : 16,
         /*ssd=*/16);
    ASSERT_TRUE(RunStep(t(), dev(), {1}).status.ok());
    ASSERT_TRUE(RunStep(t(), dev(), {2}).status.ok());
    if (GetParam() != Mode::kHbm) {
      ASSERT_TRUE(RunStep(t(), dev(), {20, 21, 22, 23}).status.ok());  // 1, 2 -> host
      ASSERT_TRUE(RunStep(t(), dev(), {20, 21, 22, 23}).status.ok());  // counts 2
      ASSERT_TRUE(RunStep(t(), dev(), {24, 25}).status.ok());          // host full (SSD mode)
      ASSERT_TRUE(RunStep(t(), dev(), {26, 27}).status.ok());  // SSD mode: 1, 2 demoted
      ASSERT_EQ(TierOf(*t(), 1), GetParam() == Mode::kSsd ? kTierSsd : kTierHost);
    }
    const Table::StepId a = t()->BeginStep();
    const std::vector<int64_t> keys = {1, 3, 4};
    LookupResult ra = LookupKeys<int64_t>(t(), a, keys, dev());
    ASSERT_TRUE(ra.status.ok()) << ra.status.message();
    EXPECT_EQ(ra.needs_init, (std::vector<bool>{false, true, true}));
    ASSERT_TRUE(FillNew<int64_t>(t(), a, keys, ra, dev()).ok());
    dev()->AddToRows(ra.slots, 1.0f);
    const Table::StepId b = t()->BeginStep();
    LookupResult rb = LookupKeys<int64_t>(t(), b, {4}, dev());
    ASSERT_TRUE(rb.status.ok()) << rb.status.message();
    EXPECT_FALSE(rb.needs_init[0]);
    EXPECT_EQ(rb.slots[0], ra.slots[2]);
    const int64_t size_before = t()->size();

    t()->EndStep(a, commit);
    EXPECT_EQ(TierOf(*t(), 1), kTierDevice);
    EXPECT_EQ(TierOf(*t(), 3), commit ? kTierDevice : kTierAbsent);
    EXPECT_EQ(TierOf(*t(), 4), kTierDevice);
    EXPECT_EQ(t()->size(), size_before - (commit ? 0 : 1));
    EXPECT_EQ(t()->stats().rolled_back_keys, commit ? 0 : 1);
    EXPECT_EQ(Contents(*t()).count(3), commit ? 1u : 0u);
    // Rows are not rolled back: 1 and 4 keep A's update.
    const ReadResult r = ReadKeys<int64_t>(*t(), {1, 3, 4}, *dev());
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(r.found, (std::vector<bool>{true, commit, true}));
    for (size_t i : {size_t{0}, size_t{2}}) {
      std::vector<float> expected = InitialRow(keys[i], kDim);
      for (float& v : expected) v += 1.0f;
      EXPECT_EQ(r.Row(i, kDim), expected) << keys[i];
    }
    t()->EndStep(b, true);
    EXPECT_EQ(TierOf(*t(), 4), kTierDevice);

    // Rolled back, 3's slot is the next one handed out, without an eviction.
    LookupResult next = RunStep(t(), dev(), {5});
    ASSERT_TRUE(next.status.ok()) << next.status.message();
    if (!commit) {
      EXPECT_EQ(next.slots[0], ra.slots[1]);
      EXPECT_TRUE(next.gathered.empty());
    } else {
      EXPECT_NE(next.slots[0], ra.slots[1]);
    }
    EXPECT_EQ(t()->stats().open_steps, 0);
    EXPECT_EQ(dev()->bad_slots(), 0);
  }
}

// A rolled-back step that inserted only new keys leaves the table as it was.
TEST_P(ModeTest, RollbackOfAStepOfNewKeysRestoresTheKeys) {
  Make(/*device=*/4, /*host=*/4, /*ssd=*/16);
  ASSERT_TRUE(RunStep(t(), dev(), {1, 2}).status.ok());
  const auto contents = Contents(*t());
  LookupResult r = RunStep(t(), dev(), {3, 4}, nullptr, /*commit=*/false);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Contents(*t()), contents);
  EXPECT_EQ(t()->size(), 2);
  EXPECT_EQ(t()->stats().device_keys, 2);
  EXPECT_EQ(t()->stats().rolled_back_keys, 2);
  // Both slots are free again.
  LookupResult again = RunStep(t(), dev(), {5, 6});
  ASSERT_TRUE(again.status.ok()) << again.status.message();
  EXPECT_EQ(Sorted(again.slots), Sorted(r.slots));
  EXPECT_TRUE(again.gathered.empty());
}

// ---- 4. uninitialised keys ---------------------------------------------------------

TEST_P(ModeTest, UninitialisedKeysAreAbsentUntilFilledAndGoneIfNeverFilled) {
  Make(/*device=*/4, /*host=*/8, /*ssd=*/16);
  // A lookup without Fill, then a committed end: no row was ever written.
  const Table::StepId a = t()->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t(), a, {7}, dev());
  ASSERT_TRUE(ra.status.ok());
  EXPECT_TRUE(ra.needs_init[0]);
  EXPECT_EQ(t()->size(), 1);  // held, uninitialised
  EXPECT_EQ(TierOf(*t(), 7), kTierAbsent);
  EXPECT_EQ(ReadKeys<int64_t>(*t(), {7}, *dev()).found, std::vector<bool>{false});
  EXPECT_TRUE(Contents(*t()).empty());
  t()->EndStep(a, /*commit=*/true);
  EXPECT_EQ(t()->size(), 0);
  EXPECT_EQ(t()->stats().device_keys, 0);
  EXPECT_EQ(t()->stats().rolled_back_keys, 0);

  // Two open steps look up the same new key: both are asked for its row; the
  // first Fill wins and later ones (of either step) do not overwrite it.
  const Table::StepId s1 = t()->BeginStep();
  const Table::StepId s2 = t()->BeginStep();
  LookupResult r1 = LookupKeys<int64_t>(t(), s1, {7}, dev());
  LookupResult r2 = LookupKeys<int64_t>(t(), s2, {7}, dev());
  ASSERT_TRUE(r1.status.ok() && r2.status.ok());
  EXPECT_TRUE(r1.needs_init[0]);
  EXPECT_TRUE(r2.needs_init[0]);
  ASSERT_EQ(r1.slots[0], r2.slots[0]);
  const int64_t slot = r1.slots[0];
  std::vector<float> winner = InitialRow(7, kDim);
  for (float& v : winner) v += 100.0f;
  const std::vector<float> loser = InitialRow(7, kDim);
  dev()->ClearLog();
  ASSERT_TRUE(t()->Fill(s2, 1, &slot, winner.data(), dev()).ok());
  ASSERT_TRUE(t()->Fill(s1, 1, &slot, loser.data(), dev()).ok());
  ASSERT_TRUE(t()->Fill(s2, 1, &slot, loser.data(), dev()).ok());
  EXPECT_EQ(dev()->initialized(), std::vector<int64_t>{slot});
  EXPECT_EQ(dev()->Embedding(slot), winner);
  EXPECT_EQ(TierOf(*t(), 7), kTierDevice);
  EXPECT_EQ(ReadKeys<int64_t>(*t(), {7}, *dev()).Row(0, kDim), winner);
  EXPECT_EQ(Contents(*t()).count(7), 1u);
  // A later lookup of a written key does not ask again.
  const Table::StepId s3 = t()->BeginStep();
  LookupResult r3 = LookupKeys<int64_t>(t(), s3, {7}, dev());
  ASSERT_TRUE(r3.status.ok());
  EXPECT_FALSE(r3.needs_init[0]);
  t()->EndStep(s3, true);
  t()->EndStep(s1, /*commit=*/false);  // s2 used 7 too: it stays
  t()->EndStep(s2, true);
  EXPECT_EQ(ReadKeys<int64_t>(*t(), {7}, *dev()).Row(0, kDim), winner);

  // An unfilled key stays while any step that looked it up is open, and a
  // later step is asked for its row; it goes when the last one ends.
  const Table::StepId c = t()->BeginStep();
  ASSERT_TRUE(LookupKeys<int64_t>(t(), c, {8}, dev()).status.ok());
  const Table::StepId d = t()->BeginStep();
  LookupResult rd = LookupKeys<int64_t>(t(), d, {8}, dev());
  ASSERT_TRUE(rd.status.ok());
  EXPECT_TRUE(rd.needs_init[0]);
  t()->EndStep(c, true);
  EXPECT_EQ(t()->size(), 2);
  const Table::StepId e = t()->BeginStep();
  LookupResult re = LookupKeys<int64_t>(t(), e, {8}, dev());
  ASSERT_TRUE(re.status.ok());
  EXPECT_TRUE(re.needs_init[0]);
  EXPECT_EQ(re.slots[0], rd.slots[0]);
  t()->EndStep(d, true);
  t()->EndStep(e, true);
  EXPECT_EQ(t()->size(), 1);
  EXPECT_EQ(TierOf(*t(), 8), kTierAbsent);
  EXPECT_EQ(t()->stats().device_keys, 1);
}

// Fill writes only slots the step pins ("FailedPrecondition for ... a slot
// `step` does not pin"), also when another open step pins the slot.
TEST(TableStepsTest, FillRejectsASlotOnlyAnotherStepPins) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(4, 0, kDim));
  FakeDevice dev(4, kDim, {0.5f});
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev);
  ASSERT_TRUE(ra.status.ok());
  const Table::StepId b = t->BeginStep();
  const std::vector<float> row = InitialRow(1, kDim);
  dev.ClearLog();
  const Status s = t->Fill(b, 1, ra.slots.data(), row.data(), &dev);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.message();
  EXPECT_TRUE(dev.initialized().empty());
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  t->EndStep(b, true);
  t->EndStep(a, true);
}

// ---- 5. admission undo -----------------------------------------------------------

// Key 5 has count 2 (threshold 3) before a step that adds 1, is admitted by
// it and rolls back: afterwards 5 has count 2 and its old last-seen time, so
// it is not admitted by a lookup that adds nothing.
TEST(TableStepsTest, RollbackUndoesAdmissionCounts) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(8, 0, kDim));
  FakeDevice dev(8, kDim, {0.5f});
  ASSERT_TRUE(t->ConfigureAdmission(Thresholds(3, 0)).ok());
  auto access = [](const std::vector<int32_t>& counts, int64_t time) {
    KeyAccess a;
    a.counts = counts.data();
    a.time = time;
    return a;
  };
  const std::vector<int32_t> two = {2}, one_three = {1, 3}, zero = {0};
  KeyAccess a1 = access(two, 10);
  LookupResult r1 = RunStep(t.get(), &dev, {5}, &a1);
  ASSERT_TRUE(r1.status.ok());
  EXPECT_EQ(r1.slots[0], -1);  // 2 < 3
  using Rec = std::map<int64_t, std::pair<int64_t, int64_t>>;
  EXPECT_EQ(AdmissionRecords(*t), (Rec{{5, {2, 10}}}));

  KeyAccess a2 = access(one_three, 11);
  LookupResult r2 = RunStep(t.get(), &dev, {5, 6}, &a2, /*commit=*/false);
  ASSERT_TRUE(r2.status.ok());
  EXPECT_GE(r2.slots[0], 0);  // admitted by this very lookup
  EXPECT_GE(r2.slots[1], 0);
  EXPECT_EQ(AdmissionRecords(*t), (Rec{{5, {2, 10}}}));  // 6's record was new: gone
  EXPECT_EQ(t->size(), 0);
  EXPECT_EQ(t->stats().rolled_back_keys, 2);
  EXPECT_EQ(t->stats().admission_keys, 1);

  KeyAccess a3 = access(zero, 12);
  LookupResult r3 = RunStep(t.get(), &dev, {5}, &a3);
  ASSERT_TRUE(r3.status.ok());
  EXPECT_EQ(r3.slots[0], -1);  // still 2 < 3
  EXPECT_EQ(AdmissionRecords(*t), (Rec{{5, {2, 12}}}));

  // Two open steps record the same key at different times; rolling back the
  // first keeps the second's count and time.
  const std::vector<int32_t> one = {1};
  KeyAccess at20 = access(one, 20), at21 = access(one, 21);
  const Table::StepId a = t->BeginStep();
  ASSERT_TRUE(LookupKeys<int64_t>(t.get(), a, {9}, &dev, &at20).status.ok());
  const Table::StepId b = t->BeginStep();
  ASSERT_TRUE(LookupKeys<int64_t>(t.get(), b, {9}, &dev, &at21).status.ok());
  t->EndStep(a, false);
  EXPECT_EQ(AdmissionRecords(*t).at(9), (std::pair<int64_t, int64_t>{1, 21}));
  t->EndStep(b, true);
  EXPECT_EQ(AdmissionRecords(*t).at(9), (std::pair<int64_t, int64_t>{1, 21}));
}

// Without a time the table counts steps with training lookups; a rolled-back
// step is taken off that count, so keys do not age by failed steps.
TEST(TableStepsTest, RollbackRestoresTheOwnClock) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(8, 0, kDim));
  FakeDevice dev(8, kDim, {0.5f});
  ASSERT_TRUE(t->ConfigureAdmission(Thresholds(1, 1)).ok());
  const int32_t one = 1;
  KeyAccess own;
  own.counts = &one;  // time -1
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}, &own).status.ok());                     // time 1
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}, &own, /*commit=*/false).status.ok());   // undone
  ASSERT_TRUE(RunStep(t.get(), &dev, {3}, &own).status.ok());                     // time 2
  using Rec = std::map<int64_t, std::pair<int64_t, int64_t>>;
  EXPECT_EQ(AdmissionRecords(*t), (Rec{{1, {1, 1}}, {3, {1, 2}}}));
  int64_t evicted = -1;
  ASSERT_TRUE(t->EvictStale(&evicted).ok());  // clock 2: key 1 is 1 old, not > 1
  EXPECT_EQ(evicted, 0);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
}

// "All or nothing; on error nothing changes": a failed lookup is no step
// with a training lookup either.
TEST(TableStepsTest, FailedLookupDoesNotAdvanceTheOwnClock) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(1, 0, kDim));
  FakeDevice dev(1, kDim, {0.5f});
  ASSERT_TRUE(t->ConfigureAdmission(Thresholds(1, 0)).ok());
  const std::vector<int32_t> one = {1};
  KeyAccess own;
  own.counts = one.data();  // time -1
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}, &own).status.ok());  // time 1
  LookupResult full = RunStep(t.get(), &dev, {2}, &own);      // no room
  ASSERT_EQ(full.status.code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}, &own).status.ok());  // time 2
  EXPECT_EQ(AdmissionRecords(*t).at(1), (std::pair<int64_t, int64_t>{2, 2}));
}

// ---- 6. zombies --------------------------------------------------------------------

TEST(TableStepsTest, ErasingAPinnedKeyFreesItsSlotWhenTheStepEnds) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(3, 0, kDim));
  FakeDevice dev(3, kDim, {0.5f});
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2, 9}).status.ok());
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev);
  ASSERT_TRUE(ra.status.ok());
  const int64_t one = 1;
  EXPECT_EQ(t->Erase<int64_t>(1, &one), 1);
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  EXPECT_EQ(ReadKeys<int64_t>(*t, {1}, dev).found, std::vector<bool>{false});
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->stats().device_keys, 3);  // A still uses the row
  // A may still write its (now orphaned) row; Fill of it is a no-op.
  dev.AddToRows(ra.slots, 1.0f);
  const std::vector<float> row = InitialRow(1, kDim);
  EXPECT_TRUE(t->Fill(a, 1, ra.slots.data(), row.data(), &dev).ok());
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  // No new key gets the slot while A is open.
  LookupResult full = RunStep(t.get(), &dev, {3});
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted) << full.status.message();
  t->EndStep(a, true);
  EXPECT_EQ(t->stats().device_keys, 2);
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  LookupResult reuse = RunStep(t.get(), &dev, {3});
  ASSERT_TRUE(reuse.status.ok()) << reuse.status.message();
  EXPECT_EQ(reuse.slots, ra.slots);
  EXPECT_TRUE(reuse.needs_init[0]);
  EXPECT_EQ(dev.Row(ra.slots[0]), dev.NewRow(3));
  // An erased key that is looked up again while the old slot is pinned gets
  // a new slot.
  const int64_t nine = 9;
  ASSERT_EQ(t->Erase<int64_t>(1, &nine), 1);  // room for it
  const Table::StepId b = t->BeginStep();
  LookupResult rb = LookupKeys<int64_t>(t.get(), b, {3}, &dev);
  ASSERT_TRUE(rb.status.ok());
  const int64_t three = 3;
  EXPECT_EQ(t->Erase<int64_t>(1, &three), 1);
  LookupResult again = LookupKeys<int64_t>(t.get(), b, {3}, &dev);
  ASSERT_TRUE(again.status.ok()) << again.status.message();
  EXPECT_NE(again.slots[0], rb.slots[0]);
  EXPECT_TRUE(again.needs_init[0]);
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {3}, again, &dev).ok());
  t->EndStep(b, true);
  EXPECT_EQ(t->stats().device_keys, 2);  // 2 and the new 3; the zombie is free
  EXPECT_EQ(TierOf(*t, 3), kTierDevice);
}

TEST(TableStepsTest, EvictStaleOfAPinnedKeyFreesItsSlotWhenTheStepEnds) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(2, 0, kDim));
  FakeDevice dev(2, kDim, {0.5f});
  ASSERT_TRUE(t->ConfigureAdmission(Thresholds(1, 2)).ok());
  const std::vector<int32_t> ones = {1, 1};
  KeyAccess at0;
  at0.counts = ones.data();
  at0.time = 0;
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2}, &at0).status.ok());
  KeyAccess at1 = at0;
  at1.time = 1;
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev, &at1);
  ASSERT_TRUE(ra.status.ok());
  KeyAccess at10 = at0;
  at10.time = 10;
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}, &at10).status.ok());  // 1 is 9 > 2 old
  int64_t evicted = 0;
  ASSERT_TRUE(t->EvictStale(&evicted).ok());
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  EXPECT_EQ(t->stats().device_keys, 2);
  KeyAccess at11 = at0;
  at11.time = 11;
  EXPECT_EQ(RunStep(t.get(), &dev, {3}, &at11).status.code(), StatusCode::kResourceExhausted);
  t->EndStep(a, true);
  EXPECT_EQ(t->stats().device_keys, 1);
  LookupResult reuse = RunStep(t.get(), &dev, {3}, &at11);
  ASSERT_TRUE(reuse.status.ok()) << reuse.status.message();
  EXPECT_EQ(reuse.slots, ra.slots);
}

// DDR: the zombie is no victim while pinned, and is freed (not evicted) after.
TEST(TableStepsTest, ZombieSlotsInDdrModeAreNeitherVictimsNorEvicted) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(2, 10, kDim));
  FakeDevice dev(2, kDim, {0.5f});
  LookupResult first = RunStep(t.get(), &dev, {1, 2});
  ASSERT_TRUE(first.status.ok());
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev);
  ASSERT_TRUE(ra.status.ok());
  const int64_t one = 1;
  ASSERT_EQ(t->Erase<int64_t>(1, &one), 1);
  const Table::StepId b = t->BeginStep();
  LookupResult rb = LookupKeys<int64_t>(t.get(), b, {3}, &dev);
  ASSERT_TRUE(rb.status.ok()) << rb.status.message();
  EXPECT_EQ(rb.gathered, std::vector<int64_t>{first.slots[1]});  // 2's, not the zombie
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {3}, rb, &dev).ok());
  EXPECT_EQ(TierOf(*t, 2), kTierHost);
  EXPECT_EQ(LookupKeys<int64_t>(t.get(), b, {4}, &dev).status.code(),
            StatusCode::kResourceExhausted);
  t->EndStep(a, true);
  EXPECT_EQ(t->stats().host_keys, 1);  // the zombie's row did not go to the host tier
  LookupResult rb2 = LookupKeys<int64_t>(t.get(), b, {4}, &dev);
  ASSERT_TRUE(rb2.status.ok()) << rb2.status.message();
  EXPECT_TRUE(rb2.gathered.empty());
  EXPECT_EQ(rb2.slots, ra.slots);
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {4}, rb2, &dev).ok());
  t->EndStep(b, true);
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierAbsent, kTierHost, kTierDevice, kTierDevice}));
}

// ---- 7. row width -----------------------------------------------------------------

TEST(TableStepsTest, WiderRowsAreAcceptedOnlyWhileNoRowIsOffTheDevice) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(2, 10, kDim));
  FakeDevice dev(2, kDim, {0.5f});
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2}).status.ok());
  EXPECT_EQ(t->row_width(), 4);
  dev.AddStateBlock(0.25f);  // a hash optimizer created before any eviction
  ASSERT_TRUE(RunStep(t.get(), &dev, {1}).status.ok());
  EXPECT_EQ(t->row_width(), 6);
  ASSERT_TRUE(RunStep(t.get(), &dev, {3}).status.ok());  // 2 -> host, 6 floats
  EXPECT_EQ(TierOf(*t, 2), kTierHost);
  LookupResult back = RunStep(t.get(), &dev, {2});  // 1 -> host, 2 back
  ASSERT_TRUE(back.status.ok()) << back.status.message();
  EXPECT_EQ(back.loaded_rows, dev.NewRow(2));  // with the new block's value

  dev.AddStateBlock(0.125f);  // too late: rows are on the host tier
  const TableStats before = t->stats();
  const auto contents = Contents(*t);
  for (const std::vector<int64_t>& keys : {std::vector<int64_t>{2}, std::vector<int64_t>{1},
                                           std::vector<int64_t>{9}}) {
    LookupResult r = RunStep(t.get(), &dev, keys);
    EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition) << r.status.message();
    EXPECT_NE(r.status.message().find("table 'emb'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("off the device"), std::string::npos) << r.status.message();
    EXPECT_TRUE(r.gathered.empty() && r.scattered.empty());
  }
  EXPECT_EQ(t->row_width(), 6);
  EXPECT_TRUE(SameStats(t->stats(), before));
  EXPECT_EQ(Contents(*t), contents);
  // Once nothing is off the device any more, the width may change again.
  const int64_t one = 1;
  ASSERT_EQ(t->Erase<int64_t>(1, &one), 1);
  EXPECT_EQ(t->stats().host_keys, 0);
  ASSERT_TRUE(RunStep(t.get(), &dev, {2}).status.ok());
  EXPECT_EQ(t->row_width(), 8);

  // HBM mode keeps no row off the device: any width >= dim goes.
  auto hbm = testing_util::MakeTable(testing_util::TieredOptions(2, 0, kDim));
  FakeDevice hdev(2, kDim);
  ASSERT_TRUE(RunStep(hbm.get(), &hdev, {1}).status.ok());
  hdev.AddStateBlock(1.0f);
  ASSERT_TRUE(RunStep(hbm.get(), &hdev, {1, 2}).status.ok());
  EXPECT_EQ(hbm->row_width(), 4);
}

// ---- 8. failure atomicity -----------------------------------------------------------

// Everything a failed lookup must leave alone.
struct TableState {
  TableStats stats;
  std::vector<int8_t> tiers;
  std::vector<float> rows;
  std::vector<bool> found;
  std::map<int64_t, std::pair<int64_t, int64_t>> admission;
  std::map<int64_t, int64_t> contents;
  int64_t size;
};

TableState Capture(const Table& t, const FakeDevice& dev, const std::vector<int64_t>& keys) {
  TableState s;
  s.stats = t.stats();
  s.tiers = Locate(t, keys);
  const ReadResult r = ReadKeys<int64_t>(t, keys, dev);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  s.rows = r.rows;
  s.found = r.found;
  s.admission = AdmissionRecords(t);
  s.contents = Contents(t);
  s.size = t.size();
  return s;
}

void ExpectSame(const TableState& a, const TableState& b, const std::string& what) {
  EXPECT_TRUE(SameStats(a.stats, b.stats)) << what;
  EXPECT_EQ(a.tiers, b.tiers) << what;
  EXPECT_EQ(a.rows, b.rows) << what;
  EXPECT_EQ(a.found, b.found) << what;
  EXPECT_EQ(a.admission, b.admission) << what;
  EXPECT_EQ(a.contents, b.contents) << what;
  EXPECT_EQ(a.size, b.size) << what;
}

// Keys 1..5 are held (HBM: 5 of 6 slots; DDR: 2 on the device, 3 on the host,
// one host row free; SSD: 2 + 2 + 1, one SSD row free). Every failing lookup
// leaves stats, tiers, rows, admission records and contents as they were,
// both while its step is open and after the step ends; then the table works.
TEST_P(ModeTest, FailedLookupsChangeNothing) {
  const Mode mode = GetParam();
  Make(/*device=*/mode == Mode::kHbm ? 6 : 2, /*host=*/mode == Mode::kSsd ? 2 : 4, /*ssd=*/2);
  ASSERT_TRUE(t()->ConfigureAdmission(Thresholds(1, 0)).ok());
  const std::vector<int32_t> ones(8, 1);
  KeyAccess access;
  access.counts = ones.data();
  for (int64_t k = 1; k <= 5; ++k) {
    access.time = k;
    ASSERT_TRUE(RunStep(t(), dev(), {k}, &access).status.ok()) << k;
  }
  ASSERT_EQ(t()->stats().ssd_keys, mode == Mode::kSsd ? 1 : 0);
  ASSERT_EQ(t()->stats().device_keys, mode == Mode::kHbm ? 5 : 2);
  const std::vector<int64_t> universe = {1, 2, 3, 4, 5, 10, 11, 12};
  const TableState start = Capture(*t(), *dev(), universe);
  access.time = 100;

  struct Case {
    std::string what;
    std::vector<int64_t> keys;
    StatusCode code;
    std::vector<int32_t> counts;
  };
  std::vector<Case> cases = {
      {"repeated new key", {10, 1, 10}, StatusCode::kInvalidArgument, {}},
      {"repeated new key, no admission record", {11, 11}, StatusCode::kInvalidArgument, {}},
      {"no room", {10, 11}, StatusCode::kResourceExhausted, {}},
      {"no room, with a hit", {1, 10, 11}, StatusCode::kResourceExhausted, {}},
      {"negative count", {10}, StatusCode::kInvalidArgument, {-1}},
      {"uninitialised rows", {1, 10}, StatusCode::kFailedPrecondition, {}},
  };
  if (mode == Mode::kDdr) {
    cases.push_back({"more keys than the device", {10, 11, 12}, StatusCode::kResourceExhausted, {}});
  }
  if (mode == Mode::kSsd) {
    cases.push_back({"SSD write fault", {10}, StatusCode::kInternal, {}});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(ModeName(mode)) + ": " + c.what);
    KeyAccess a = access;
    if (!c.counts.empty()) a.counts = c.counts.data();
    if (c.what == "uninitialised rows") dev()->SetUninitialised(true);
    if (c.what == "SSD write fault") t()->SetSsdWriteFaultForTesting(true);
    const Table::StepId step = t()->BeginStep();
    LookupResult r = LookupKeys<int64_t>(t(), step, c.keys, dev(), &a);
    EXPECT_EQ(r.status.code(), c.code) << r.status.message();
    EXPECT_TRUE(r.gathered.empty() && r.scattered.empty());
    TableState open = Capture(*t(), *dev(), universe);
    EXPECT_EQ(open.stats.open_steps, 1);
    open.stats.open_steps = 0;
    ExpectSame(start, open, "step open");
    t()->EndStep(step, /*commit=*/true);
    ExpectSame(start, Capture(*t(), *dev(), universe), "step ended");
    dev()->SetUninitialised(false);
    t()->SetSsdWriteFaultForTesting(false);
  }
  EXPECT_EQ(dev()->bad_slots(), 0);
  // A lookup that fits works, with the admission record it adds.
  LookupResult ok = RunStep(t(), dev(), {10}, &access);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(TierOf(*t(), 10), kTierDevice);
  EXPECT_EQ(AdmissionRecords(*t()).at(10), (std::pair<int64_t, int64_t>{1, 100}));
  EXPECT_EQ(ReadKeys<int64_t>(*t(), {10}, *dev()).Row(0, kDim), InitialRow(10, kDim));
}

INSTANTIATE_TEST_SUITE_P(Modes, ModeTest, ::testing::Values(Mode::kHbm, Mode::kDdr, Mode::kSsd),
                         ModeParamName);

// ---- repeated keys on the device -------------------------------------------------

// A key repeated within a call is fine while it is on the device; it pins one
// slot, so the lookup fits as it would without the repeat.
TEST(TableStepsTest, RepeatedDeviceKeyCountsOnceTowardsThePins) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(3, 10, kDim));
  FakeDevice dev(3, kDim, {0.5f});
  ASSERT_TRUE(RunStep(t.get(), &dev, {1, 2, 3}).status.ok());
  LookupResult plain = RunStep(t.get(), &dev, {1, 2, 4});  // evicts 3
  ASSERT_TRUE(plain.status.ok()) << plain.status.message();
  LookupResult repeated = RunStep(t.get(), &dev, {1, 1, 2, 3});  // evicts 4
  ASSERT_TRUE(repeated.status.ok()) << repeated.status.message();
  EXPECT_EQ(repeated.slots[0], repeated.slots[1]);
  EXPECT_EQ(Locate(*t, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierDevice, kTierDevice, kTierDevice, kTierHost}));
}

// ---- a key erased and inserted again by another step ---------------------------------

// A inserts 1; 1 is erased; B inserts 1 again (a new key with a new slot).
// B's key is not A's: A's rollback must not take it back ("the keys the step
// inserted that no other step used meanwhile").
TEST(TableStepsTest, RollbackLeavesAKeyAnotherStepInsertedAgain) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(4, 0, kDim));
  FakeDevice dev(4, kDim, {0.5f});
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev);
  ASSERT_TRUE(ra.status.ok());
  ASSERT_TRUE(FillNew<int64_t>(t.get(), a, {1}, ra, &dev).ok());
  const int64_t one = 1;
  ASSERT_EQ(t->Erase<int64_t>(1, &one), 1);
  const Table::StepId b = t->BeginStep();
  LookupResult rb = LookupKeys<int64_t>(t.get(), b, {1}, &dev);
  ASSERT_TRUE(rb.status.ok());
  ASSERT_TRUE(rb.needs_init[0]);
  ASSERT_NE(rb.slots[0], ra.slots[0]);
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {1}, rb, &dev).ok());
  t->EndStep(a, /*commit=*/false);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  t->EndStep(b, true);
  EXPECT_EQ(TierOf(*t, 1), kTierDevice);
  EXPECT_EQ(ReadKeys<int64_t>(*t, {1}, dev).Row(0, kDim), InitialRow(1, kDim));
}

// The same, the other way round: A's commit must not adopt B's key, so B's
// rollback still takes it back.
TEST(TableStepsTest, CommitDoesNotAdoptAKeyAnotherStepInsertedAgain) {
  auto t = testing_util::MakeTable(testing_util::TieredOptions(4, 0, kDim));
  FakeDevice dev(4, kDim, {0.5f});
  const Table::StepId a = t->BeginStep();
  LookupResult ra = LookupKeys<int64_t>(t.get(), a, {1}, &dev);
  ASSERT_TRUE(ra.status.ok());
  ASSERT_TRUE(FillNew<int64_t>(t.get(), a, {1}, ra, &dev).ok());
  const int64_t one = 1;
  ASSERT_EQ(t->Erase<int64_t>(1, &one), 1);
  const Table::StepId b = t->BeginStep();
  LookupResult rb = LookupKeys<int64_t>(t.get(), b, {1}, &dev);
  ASSERT_TRUE(rb.status.ok());
  ASSERT_TRUE(FillNew<int64_t>(t.get(), b, {1}, rb, &dev).ok());
  t->EndStep(a, /*commit=*/true);
  t->EndStep(b, /*commit=*/false);
  EXPECT_EQ(TierOf(*t, 1), kTierAbsent);
  EXPECT_EQ(t->size(), 0);
}

// ---- 9. threads ----------------------------------------------------------------------

// Several threads run steps on one DDR table whose device tier is smaller
// than the key universe: Lookup, Fill, a "+1" update of the step's rows in the
// device (under the device's lock, outside the table's), EndStep. A lookup
// that finds every slot pinned by the other threads fails and its step is
// rolled back with no update. At the end every key's row is its initial row
// plus the number of committed lookups of it, in every tier.
TEST(TableStepsTest, ConcurrentStepsKeepEveryUpdate) {
  constexpr int kThreads = 4;
  constexpr int kStepsPerThread = 1500;
  constexpr int64_t kDevice = 16;
  constexpr int64_t kUniverse = 64;
  constexpr int64_t kEmbDim = 3;
  auto t = testing_util::MakeTable(testing_util::TieredOptions(kDevice, 1000, kEmbDim));
  FakeDevice dev(kDevice, kEmbDim, {0.5f, -2.0f});
  std::vector<std::atomic<int64_t>> looked_up(kUniverse);
  std::atomic<int64_t> exhausted{0}, committed{0}, errors{0};

  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      std::mt19937_64 rng(1234 + th);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      std::vector<int64_t> slots, fill_slots;
      std::vector<float> fill_rows;
      for (int s = 0; s < kStepsPerThread; ++s) {
        std::vector<int64_t> keys;
        const int draws = 1 + static_cast<int>(rng() % 6);
        for (int d = 0; d < draws; ++d) {
          const double x = u(rng);
          const int64_t k = static_cast<int64_t>(x * x * kUniverse);
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
        }
        const int64_t n = static_cast<int64_t>(keys.size());
        slots.assign(keys.size(), -7);
        std::unique_ptr<bool[]> needs_init(new bool[keys.size()]());
        const Table::StepId step = t->BeginStep();
        const Status ls =
            t->Lookup<int64_t>(step, n, keys.data(), nullptr, &dev, slots.data(), needs_init.get());
        if (!ls.ok()) {
          if (ls.code() == StatusCode::kResourceExhausted) {
            ++exhausted;
          } else {
            ++errors;
          }
          t->EndStep(step, /*commit=*/false);
          continue;
        }
        fill_slots.clear();
        fill_rows.clear();
        for (int64_t i = 0; i < n; ++i) {
          if (slots[i] < 0 || slots[i] >= kDevice) ++errors;
          if (!needs_init[i]) continue;
          fill_slots.push_back(slots[i]);
          const std::vector<float> init = InitialRow(keys[i], kEmbDim);
          fill_rows.insert(fill_rows.end(), init.begin(), init.end());
        }
        if (!t->Fill(step, static_cast<int64_t>(fill_slots.size()), fill_slots.data(),
                     fill_rows.data(), &dev).ok()) {
          ++errors;
        }
        std::this_thread::yield();  // let other steps run between the lookup and the update
        dev.AddToRows(slots, 1.0f);
        for (int64_t k : keys) ++looked_up[static_cast<size_t>(k)];
        std::this_thread::yield();
        t->EndStep(step, /*commit=*/true);
        ++committed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(dev.bad_slots(), 0);
  EXPECT_GT(committed.load(), kThreads * kStepsPerThread / 2);
  const TableStats s = t->stats();
  EXPECT_EQ(s.open_steps, 0);
  EXPECT_EQ(s.rolled_back_keys, 0);  // failed lookups inserted nothing
  EXPECT_EQ(s.misses, s.loads + s.new_keys);
  EXPECT_GT(s.evictions, 100);
  EXPECT_GT(s.loads, 100);

  // Embeddings through Read, from whichever tier.
  std::vector<int64_t> all;
  for (int64_t k = 0; k < kUniverse; ++k) all.push_back(k);
  const ReadResult r = ReadKeys<int64_t>(*t, all, dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  int64_t held = 0;
  for (int64_t k = 0; k < kUniverse; ++k) {
    const int64_t n = looked_up[static_cast<size_t>(k)].load();
    ASSERT_EQ(r.found[static_cast<size_t>(k)], n > 0) << k;
    if (n == 0) continue;
    ++held;
    std::vector<float> expected = InitialRow(k, kEmbDim);
    for (float& v : expected) v += static_cast<float>(n);
    EXPECT_EQ(r.Row(static_cast<size_t>(k), kEmbDim), expected) << "key " << k << ", " << n << " lookups";
  }
  EXPECT_EQ(t->size(), held);
  // Full rows (optimizer state too): bring the keys back to the device, a
  // device-full at a time, and read them there.
  for (int64_t base = 0; base < kUniverse; base += kDevice) {
    std::vector<int64_t> keys;
    for (int64_t k = base; k < base + kDevice; ++k) {
      if (looked_up[static_cast<size_t>(k)].load() > 0) keys.push_back(k);
    }
    const Table::StepId step = t->BeginStep();
    LookupResult lr = LookupKeys<int64_t>(t.get(), step, keys, &dev);
    ASSERT_TRUE(lr.status.ok()) << lr.status.message();
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_FALSE(lr.needs_init[i]) << keys[i];
      std::vector<float> expected = dev.NewRow(keys[i]);
      for (float& v : expected) v += static_cast<float>(looked_up[static_cast<size_t>(keys[i])].load());
      EXPECT_EQ(dev.Row(lr.slots[i]), expected) << "key " << keys[i];
    }
    t->EndStep(step, true);
  }
}

}  // namespace
}  // namespace asc
