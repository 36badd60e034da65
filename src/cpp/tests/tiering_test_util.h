// Scaffolding shared by the tiered-Table tests (table_tiering_test.cc,
// table_ssd_test.cc, device_policy_test.cc) and the SSD tests that need a
// scratch directory (ssd_tier_test.cc). Each of those files used to carry its
// own copy of these pieces; a fix to how the fake graph drives a Table now has
// one place to go. Each test's own assertions stay in its file.
#ifndef ASC_TESTS_TIERING_TEST_UTIL_H_
#define ASC_TESTS_TIERING_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "asc/table.h"

namespace asc {
namespace testing_util {

// Options of a tiered table named "emb". host = 0 gives HBM mode; callers set
// the SSD tier or the device policy on the result.
inline TableOptions TieredOptions(int64_t device, int64_t host, int64_t dim, int64_t row_width) {
  TableOptions o;
  o.name = "emb";
  o.dim = dim;
  o.row_width = row_width;
  o.device_capacity = device;
  o.host_capacity = host;
  return o;
}

// Creation is expected to succeed; a failure is reported and yields nullptr.
inline std::unique_ptr<Table> MakeTable(const TableOptions& o) {
  std::unique_ptr<Table> t;
  const Status s = Table::Create(o, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

// What one PlanLookup returned.
struct Lookup {
  Status status;
  std::vector<int64_t> slots;
  std::vector<bool> is_new;
  SwapPlan plan;
};

// One PlanLookup, nothing committed. Slots start at -7 so a slot the table
// failed to write is visible; is_new gets one spare element so n = 0 still
// allocates.
template <typename K>
Lookup Plan(Table* t, const std::vector<K>& keys, bool begin_step) {
  Lookup r;
  const size_t n = keys.size();
  r.slots.assign(n, -7);
  std::unique_ptr<bool[]> is_new(new bool[n + 1]());
  r.status = t->PlanLookup<K>(static_cast<int64_t>(n), keys.data(), begin_step, r.slots.data(),
                              is_new.get(), &r.plan);
  r.is_new.assign(is_new.get(), is_new.get() + n);
  return r;
}

// One lookup, with the graph's CommitEvicted when it succeeded, for tests
// where row contents do not matter, only which keys go where.
inline Lookup PlanAndCommit(Table* t, const std::vector<int64_t>& keys, bool begin_step) {
  Lookup r = Plan<int64_t>(t, keys, begin_step);
  if (r.status.ok()) {
    const std::vector<float> rows(r.plan.evict_slots.size() * t->row_width(), 0.5f);
    const Status c = t->CommitEvicted(static_cast<int64_t>(r.plan.evict_slots.size()), rows.data());
    EXPECT_TRUE(c.ok()) << c.message();
  }
  return r;
}

// Tier of one key; 9 (no tier) if Locate failed to write it.
inline int8_t TierOf(const Table& t, int64_t key) {
  int8_t tier = 9;
  t.Locate(1, &key, &tier);
  return tier;
}

// Tier of each key; 9 (no tier) marks an entry Locate failed to write.
inline std::vector<int8_t> Locate(const Table& t, const std::vector<int64_t>& keys) {
  std::vector<int8_t> tier(keys.size(), 9);
  t.Locate(static_cast<int64_t>(keys.size()), keys.data(), tier.data());
  return tier;
}

// Every counter a failed or read-only call must leave alone. ssd_reads and the
// byte counters are left out: FindRows reads SSD rows without moving anything.
// The SSD fields are zero in DDR mode, so DDR tests compare them too.
inline bool SameStats(const TableStats& a, const TableStats& b) {
  return a.device_keys == b.device_keys && a.host_keys == b.host_keys && a.hits == b.hits &&
         a.misses == b.misses && a.loads == b.loads && a.evictions == b.evictions &&
         a.new_keys == b.new_keys && a.ssd_keys == b.ssd_keys && a.ssd_loads == b.ssd_loads &&
         a.demotions == b.demotions && a.ssd_writes == b.ssd_writes && a.hot_keys == b.hot_keys &&
         a.hot_hits == b.hot_hits;
}

// The row the fake graph initialises a new key with: distinct per key and per
// column, so a row landing in the wrong slot or shifted by a column shows.
inline std::vector<float> InitialRow(int64_t key, int64_t width) {
  std::vector<float> row(static_cast<size_t>(width));
  for (int64_t c = 0; c < width; ++c) row[c] = static_cast<float>(key) * 0.25f + static_cast<float>(c);
  return row;
}

// Key batches of the randomized simulations: skewed (low keys are hot) over
// kUniverse ids spread as id * 7 - 3000. The draw order (lookups per step,
// then per lookup its size, then its keys) fixes the sequence for a seed.
class SkewedKeys {
 public:
  SkewedKeys(uint64_t seed, int64_t universe) : rng_(seed), universe_(universe) {}
  int LookupsPerStep() { return 1 + static_cast<int>(rng_() % 3); }
  // 1..30 draws, repeats dropped (PlanLookup rejects repeated keys).
  std::vector<int64_t> Batch() {
    std::vector<int64_t> keys;
    const int batch = 1 + static_cast<int>(rng_() % 30);
    for (int i = 0; i < batch; ++i) {
      const double u = uniform_(rng_);
      const int64_t k = static_cast<int64_t>(u * u * u * universe_) * 7 - 3000;
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    return keys;
  }
  // Every key Batch can return.
  std::vector<int64_t> All() const {
    std::vector<int64_t> keys;
    for (int64_t k = 0; k < universe_; ++k) keys.push_back(k * 7 - 3000);
    return keys;
  }

 private:
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  int64_t universe_;
};

// The device matrix of a DDR/SSD table as the TF graph keeps it (row r is
// rows()[r*w, (r+1)*w)), plus the reference value of every key that exists.
// Apply does what the graph does with a SwapPlan; ReadAndTrain and CheckAllRows
// compare what the table serves against the reference.
class FakeDevice {
 public:
  using Reference = std::unordered_map<int64_t, std::vector<float>>;

  FakeDevice(int64_t slots, int64_t width, float fill)
      : slots_(slots), width_(width), rows_(static_cast<size_t>(slots * width), fill) {}

  std::vector<float>& rows() { return rows_; }
  Reference& reference() { return reference_; }
  int64_t evicted() const { return evicted_; }  // rows committed by Apply
  int64_t loaded() const { return loaded_; }    // rows scattered by Apply

  // The invariants of one successful lookup within a step: nothing used
  // earlier in the step (step_slots) is evicted; is_new exactly for keys the
  // reference lacks; slots in range and distinct. Adds the slots to step_slots.
  void CheckPlan(const std::vector<int64_t>& keys, const Lookup& r, std::set<int64_t>* step_slots,
                 int step) const {
    for (int64_t s : r.plan.evict_slots) ASSERT_EQ(step_slots->count(s), 0u) << "step " << step;
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(r.is_new[i], reference_.count(keys[i]) == 0);
      ASSERT_GE(r.slots[i], 0);
      ASSERT_LT(r.slots[i], slots_);
      step_slots->insert(r.slots[i]);
    }
    ASSERT_EQ(std::set<int64_t>(r.slots.begin(), r.slots.end()).size(), keys.size());
  }

  // The graph after a successful PlanLookup: gather the evicted rows, commit
  // them, then scatter the loaded rows and the initial rows of new keys (which
  // also become their reference). Fatal failures stop before any row is
  // scattered from a plan of the wrong size.
  void Apply(Table* t, const std::vector<int64_t>& keys, const Lookup& r) {
    const int64_t w = width_;
    const int64_t e = static_cast<int64_t>(r.plan.evict_slots.size());
    std::vector<float> gathered;
    for (int64_t s : r.plan.evict_slots) {
      gathered.insert(gathered.end(), rows_.begin() + s * w, rows_.begin() + (s + 1) * w);
    }
    const Status c = t->CommitEvicted(e, gathered.data());
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_EQ(r.plan.load_rows.size(), r.plan.load_slots.size() * static_cast<size_t>(w));
    for (size_t j = 0; j < r.plan.load_slots.size(); ++j) {
      std::copy_n(r.plan.load_rows.begin() + j * w, w, rows_.begin() + r.plan.load_slots[j] * w);
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!r.is_new[i]) continue;
      const std::vector<float> init = InitialRow(keys[i], w);
      std::copy(init.begin(), init.end(), rows_.begin() + r.slots[i] * w);
      reference_[keys[i]] = init;
    }
    evicted_ += e;
    loaded_ += static_cast<int64_t>(r.plan.load_slots.size());
  }

  // PlanLookup, then Apply when it succeeded; returns the lookup.
  Lookup Step(Table* t, const std::vector<int64_t>& keys, bool begin_step) {
    Lookup r = Plan<int64_t>(t, keys, begin_step);
    if (r.status.ok()) Apply(t, keys, r);
    return r;
  }

  // Read by slot, then train (+1 on device and reference): a stale row
  // anywhere shows up on a later read.
  void ReadAndTrain(const std::vector<int64_t>& keys, const Lookup& r, int step) {
    for (size_t i = 0; i < keys.size(); ++i) {
      float* row = rows_.data() + r.slots[i] * width_;
      std::vector<float>& expected = reference_[keys[i]];
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), row))
          << "key " << keys[i] << " step " << step;
      for (int64_t c = 0; c < width_; ++c) {
        row[c] += 1.0f;
        expected[c] += 1.0f;
      }
    }
  }

  // The eval path: FindRows of every reference key must find it, change no
  // counter, and serve the reference row from the device or the host buffer.
  void CheckAllRows(const Table& t, const std::string& when, int step) {
    std::vector<int64_t> all;
    for (const auto& kv : reference_) all.push_back(kv.first);
    const int64_t n = static_cast<int64_t>(all.size());
    std::vector<int64_t> slots(all.size());
    std::vector<float> host_rows(all.size() * width_);
    std::unique_ptr<bool[]> found(new bool[all.size() + 1]);
    const TableStats before = t.stats();
    ASSERT_TRUE(t.FindRows<int64_t>(n, all.data(), slots.data(), host_rows.data(), found.get()).ok());
    ASSERT_TRUE(SameStats(t.stats(), before)) << when;  // reads move nothing
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(found[i]) << when << " key " << all[i];
      const float* row =
          slots[i] >= 0 ? rows_.data() + slots[i] * width_ : host_rows.data() + i * width_;
      ASSERT_TRUE(std::equal(reference_[all[i]].begin(), reference_[all[i]].end(), row))
          << when << " key " << all[i] << " step " << step;
    }
  }

  // Erases up to `count` reference keys (in the reference's iteration order,
  // so from any tier) from the table and the reference; each must exist.
  void EraseSome(Table* t, size_t count) {
    std::vector<int64_t> erase;
    for (const auto& kv : reference_) {
      if (erase.size() < count) erase.push_back(kv.first);
    }
    ASSERT_EQ(t->Erase<int64_t>(static_cast<int64_t>(erase.size()), erase.data()),
              static_cast<int64_t>(erase.size()));
    for (int64_t k : erase) reference_.erase(k);
  }

 private:
  int64_t slots_;
  int64_t width_;
  std::vector<float> rows_;
  Reference reference_;
  int64_t evicted_ = 0;
  int64_t loaded_ = 0;
};

// One training step of the randomized simulations: 1-3 lookups of skewed
// keys; the first begins the step. A lookup whose step would need more than
// the device holds must fail with kResourceExhausted changing no counter (it
// is counted in *exhausted); any other must succeed, and then goes through
// CheckPlan, Apply and ReadAndTrain.
inline void SimulateStep(Table* t, FakeDevice* device, SkewedKeys* draw, int64_t device_capacity,
                         int step, int64_t* exhausted) {
  std::unordered_set<int64_t> step_keys;
  std::set<int64_t> step_slots;
  const int lookups = draw->LookupsPerStep();
  for (int l = 0; l < lookups; ++l) {
    const std::vector<int64_t> keys = draw->Batch();
    std::unordered_set<int64_t> would_use = step_keys;
    would_use.insert(keys.begin(), keys.end());
    const TableStats before = t->stats();
    Lookup r = Plan<int64_t>(t, keys, /*begin_step=*/l == 0);
    if (static_cast<int64_t>(would_use.size()) > device_capacity) {
      ASSERT_EQ(r.status.code(), StatusCode::kResourceExhausted) << r.status.message();
      ASSERT_TRUE(SameStats(t->stats(), before));
      ++*exhausted;
      continue;
    }
    ASSERT_TRUE(r.status.ok()) << r.status.message() << " step " << step;
    step_keys = would_use;
    // A key keeps its slot; no slot serves two keys; nothing used earlier in
    // the step is evicted.
    ASSERT_NO_FATAL_FAILURE(device->CheckPlan(keys, r, &step_slots, step));
    ASSERT_NO_FATAL_FAILURE(device->Apply(t, keys, r));
    ASSERT_NO_FATAL_FAILURE(device->ReadAndTrain(keys, r, step));
  }
}

// A fresh directory under the system temp directory, removed with everything
// in it on destruction (owner permissions restored first, so a test that made
// a subdirectory read-only still cleans up).
class TempDir {
 public:
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (root_.empty()) return;
    std::error_code ec;
    std::filesystem::permissions(root_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(root_, ec);
  }
  // Creates <tmp>/<prefix>XXXXXX; false if mkdtemp failed.
  bool Create(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) return false;
    root_ = tmpl;
    return true;
  }
  const std::string& root() const { return root_; }
  // <root>/<leaf>, created if missing.
  std::string Dir(const std::string& leaf) const {
    const std::string d = (std::filesystem::path(root_) / leaf).string();
    std::filesystem::create_directories(d);
    return d;
  }

 private:
  std::string root_;
};

}  // namespace testing_util
}  // namespace asc

#endif  // ASC_TESTS_TIERING_TEST_UTIL_H_
