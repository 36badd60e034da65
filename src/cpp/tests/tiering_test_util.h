// Scaffolding shared by the Table tests (table_test.cc, table_tiering_test.cc,
// table_ssd_test.cc, table_steps_test.cc, device_policy_test.cc,
// hot_embedding_test.cc, admission_test.cc, table_concurrency_test.cc) and
// the SSD tests that need a scratch directory (ssd_tier_test.cc). A fix to how
// the fake graph drives a Table has one place to go; each test's own
// assertions stay in its file.
//
// The fake graph: FakeDevice is an asc::DeviceRows over a plain float matrix
// (the embedding block, then optimizer-state blocks of dim floats each, as the
// TF kernels hold them); a step is BeginStep, one or more Lookup + Fill, reads
// and a "+1" update of the looked-up rows, EndStep.
#ifndef ASC_TESTS_TIERING_TEST_UTIL_H_
#define ASC_TESTS_TIERING_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "asc/device_rows.h"
#include "asc/table.h"

namespace asc {
namespace testing_util {

// The three cache modes, for parameterised table tests.
enum class Mode { kHbm, kDdr, kSsd };

inline const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kHbm:
      return "HBM";
    case Mode::kDdr:
      return "DDR";
    case Mode::kSsd:
      return "SSD";
  }
  return "?";
}

// gtest parameter names: the mode's name.
inline std::string ModeParamName(const ::testing::TestParamInfo<Mode>& info) {
  return ModeName(info.param);
}

// Options of a tiered table named "emb". host = 0 gives HBM mode; callers set
// the SSD tier, the cache policy or hot embedding on the result.
inline TableOptions TieredOptions(int64_t device, int64_t host, int64_t dim) {
  TableOptions o;
  o.name = "emb";
  o.dim = dim;
  o.device_vocabulary_size = device;
  o.host_vocabulary_size = host;
  return o;
}

// Creation is expected to succeed; a failure is reported and yields nullptr.
inline std::unique_ptr<Table> MakeTable(const TableOptions& o) {
  std::unique_ptr<Table> t;
  const Status s = Table::Create(o, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

// The embedding the fake graph initialises a new key with: distinct per key
// and per column, so a row landing in the wrong slot or shifted by a column
// shows.
inline std::vector<float> InitialRow(int64_t key, int64_t width) {
  std::vector<float> row(static_cast<size_t>(width));
  for (int64_t c = 0; c < width; ++c) row[c] = static_cast<float>(key) * 0.25f + static_cast<float>(c);
  return row;
}

// The device rows of one table: `rows` rows of width() floats, the embedding
// (dim floats) followed by one block of dim floats per optimizer state, each
// with its initial value. Fresh rows hold kUnset in the embedding block, so a
// row read before Fill wrote it shows.
//
// Every method locks the matrix, as the TF variables do: Table calls it under
// its own lock while tests update rows from other threads.
//
// It also records what the Table moved through it since ClearLog: the slots
// it gathered (rows leaving the device: evictions), the slots and rows it
// scattered (rows coming back: loads) and the slots it initialised (Fill), and
// counts them over its life.
class FakeDevice : public DeviceRows {
 public:
  static constexpr float kUnset = -1000.0f;

  // `state_init`: the initial value of each optimizer-state block.
  FakeDevice(int64_t rows, int64_t dim, std::vector<float> state_init = {})
      : dim_(dim), rows_(rows), state_init_(std::move(state_init)) {
    data_.resize(static_cast<size_t>(rows_ * width_locked()));
    for (int64_t r = 0; r < rows_; ++r) FreshRow(r);
  }

  // ---- DeviceRows --------------------------------------------------------------
  int64_t width() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return width_locked();
  }
  Status Check(int64_t rows) const override {
    std::lock_guard<std::mutex> lock(mu_);
    ++checks_;
    if (uninitialised_) {
      return Status::FailedPrecondition("variable 'emb/embedding' is not initialised");
    }
    if (rows > rows_) {
      return Status::FailedPrecondition("variable 'emb/embedding' has " + std::to_string(rows_) +
                                        " rows, the table needs " + std::to_string(rows));
    }
    return Status::OK();
  }
  Status Grow(int64_t rows) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (uninitialised_) {
      return Status::FailedPrecondition("variable 'emb/embedding' is not initialised");
    }
    if (rows <= rows_) return Status::OK();
    const int64_t old = rows_;
    rows_ = rows;
    data_.resize(static_cast<size_t>(rows_ * width_locked()));
    for (int64_t r = old; r < rows_; ++r) FreshRow(r);
    ++grows_;
    return Status::OK();
  }
  Status Gather(int64_t n, const int64_t* slots, float* out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    for (int64_t i = 0; i < n; ++i) {
      if (!InRange(slots[i])) return OutOfRange("Gather", slots[i]);
      std::copy_n(data_.data() + slots[i] * w, w, out + i * w);
      gathered_.push_back(slots[i]);
    }
    evicted_ += n;
    return Status::OK();
  }
  Status Scatter(int64_t n, const int64_t* slots, const float* rows) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    for (int64_t i = 0; i < n; ++i) {
      if (!InRange(slots[i])) return OutOfRange("Scatter", slots[i]);
    }
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(rows + i * w, w, data_.data() + slots[i] * w);
      scattered_.push_back(slots[i]);
      scattered_rows_.insert(scattered_rows_.end(), rows + i * w, rows + (i + 1) * w);
    }
    loaded_ += n;
    return Status::OK();
  }
  Status Initialize(int64_t n, const int64_t* slots, const float* embedding) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t i = 0; i < n; ++i) {
      if (!InRange(slots[i])) return OutOfRange("Initialize", slots[i]);
    }
    const int64_t w = width_locked();
    for (int64_t i = 0; i < n; ++i) {
      float* row = data_.data() + slots[i] * w;
      std::copy_n(embedding + i * dim_, dim_, row);
      for (size_t b = 0; b < state_init_.size(); ++b) {
        std::fill_n(row + (b + 1) * dim_, dim_, state_init_[b]);
      }
      initialized_.push_back(slots[i]);
      ++init_count_[slots[i]];
    }
    return Status::OK();
  }
  Status ReadEmbedding(int64_t n, const int64_t* slots, float* out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    for (int64_t i = 0; i < n; ++i) {
      if (!InRange(slots[i])) return OutOfRange("ReadEmbedding", slots[i]);
      std::copy_n(data_.data() + slots[i] * w, dim_, out + i * dim_);
    }
    return Status::OK();
  }

  // ---- test controls ---------------------------------------------------------------
  // While on, Check (and Grow) fail as an uninitialised variable does.
  void SetUninitialised(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    uninitialised_ = on;
  }
  // Adds an optimizer-state block (a hash optimizer created later): every
  // existing row gets `init` in it; width() grows by dim.
  void AddStateBlock(float init) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    std::vector<float> grown(static_cast<size_t>(rows_ * (w + dim_)));
    for (int64_t r = 0; r < rows_; ++r) {
      std::copy_n(data_.data() + r * w, w, grown.data() + r * (w + dim_));
      std::fill_n(grown.data() + r * (w + dim_) + w, dim_, init);
    }
    data_.swap(grown);
    state_init_.push_back(init);
  }

  // ---- rows ---------------------------------------------------------------------------
  int64_t dim() const { return dim_; }
  int64_t rows() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rows_;
  }
  // The full row a new key gets from Fill with InitialRow(key, dim).
  std::vector<float> NewRow(int64_t key) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<float> row = InitialRow(key, dim_);
    for (float init : state_init_) row.insert(row.end(), static_cast<size_t>(dim_), init);
    return row;
  }
  std::vector<float> Row(int64_t slot) const {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    return std::vector<float>(data_.begin() + slot * w, data_.begin() + (slot + 1) * w);
  }
  std::vector<float> Embedding(int64_t slot) const {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    return std::vector<float>(data_.begin() + slot * w, data_.begin() + slot * w + dim_);
  }
  // The optimizer update of the fake graph: every float of each row += delta.
  void AddToRows(const std::vector<int64_t>& slots, float delta) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t w = width_locked();
    for (int64_t s : slots) {
      if (s < 0) continue;
      for (int64_t c = 0; c < w; ++c) data_[static_cast<size_t>(s * w + c)] += delta;
    }
  }

  // ---- what moved -------------------------------------------------------------------
  void ClearLog() {
    std::lock_guard<std::mutex> lock(mu_);
    gathered_.clear();
    scattered_.clear();
    scattered_rows_.clear();
    initialized_.clear();
  }
  std::vector<int64_t> gathered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gathered_;
  }
  std::vector<int64_t> scattered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return scattered_;
  }
  std::vector<float> scattered_rows() const {
    std::lock_guard<std::mutex> lock(mu_);
    return scattered_rows_;
  }
  std::vector<int64_t> initialized() const {
    std::lock_guard<std::mutex> lock(mu_);
    return initialized_;
  }
  // Initialize calls per slot over the device's life.
  std::map<int64_t, int64_t> init_counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return init_count_;
  }
  int64_t evicted() const {  // rows gathered over the device's life
    std::lock_guard<std::mutex> lock(mu_);
    return evicted_;
  }
  int64_t loaded() const {  // rows scattered over the device's life
    std::lock_guard<std::mutex> lock(mu_);
    return loaded_;
  }
  int64_t grows() const {
    std::lock_guard<std::mutex> lock(mu_);
    return grows_;
  }
  int64_t checks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return checks_;
  }
  // Calls that named a slot outside the matrix (each also failed).
  int64_t bad_slots() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_slots_;
  }

 private:
  int64_t width_locked() const { return dim_ * (1 + static_cast<int64_t>(state_init_.size())); }
  bool InRange(int64_t slot) const { return slot >= 0 && slot < rows_; }
  Status OutOfRange(const char* call, int64_t slot) const {
    ++bad_slots_;
    return Status::Internal(std::string(call) + ": slot " + std::to_string(slot) +
                            " outside [0, " + std::to_string(rows_) + ")");
  }
  void FreshRow(int64_t r) {
    const int64_t w = width_locked();
    float* row = data_.data() + r * w;
    std::fill_n(row, dim_, kUnset);
    for (size_t b = 0; b < state_init_.size(); ++b) std::fill_n(row + (b + 1) * dim_, dim_, state_init_[b]);
  }

  const int64_t dim_;
  mutable std::mutex mu_;
  int64_t rows_;
  std::vector<float> state_init_;
  std::vector<float> data_;
  bool uninitialised_ = false;
  mutable std::vector<int64_t> gathered_;
  std::vector<int64_t> scattered_;
  std::vector<float> scattered_rows_;
  std::vector<int64_t> initialized_;
  std::map<int64_t, int64_t> init_count_;
  mutable int64_t evicted_ = 0;
  int64_t loaded_ = 0;
  int64_t grows_ = 0;
  mutable int64_t checks_ = 0;
  mutable int64_t bad_slots_ = 0;
};

// What one Lookup returned, and what it moved through the device.
struct LookupResult {
  Status status;
  std::vector<int64_t> slots;
  std::vector<bool> needs_init;
  std::vector<int64_t> gathered;   // slots whose rows left the device (evictions)
  std::vector<int64_t> scattered;  // slots that received rows (loads)
  std::vector<float> loaded_rows;  // those rows, scattered.size() * width floats
};

// One Lookup of `step`, nothing filled. Slots start at -7 so a slot the table
// failed to write is visible; needs_init gets one spare element so n = 0
// still allocates.
template <typename K>
LookupResult LookupKeys(Table* t, Table::StepId step, const std::vector<K>& keys, FakeDevice* dev,
                        const KeyAccess* access = nullptr) {
  LookupResult r;
  const size_t n = keys.size();
  r.slots.assign(n, -7);
  std::unique_ptr<bool[]> needs_init(new bool[n + 1]());
  dev->ClearLog();
  r.status = t->Lookup<K>(step, static_cast<int64_t>(n), keys.data(), access, dev, r.slots.data(),
                          needs_init.get());
  r.needs_init.assign(needs_init.get(), needs_init.get() + n);
  r.gathered = dev->gathered();
  r.scattered = dev->scattered();
  r.loaded_rows = dev->scattered_rows();
  return r;
}

// Fill of the keys the lookup flagged needs_init, with InitialRow(key, dim).
template <typename K>
Status FillNew(Table* t, Table::StepId step, const std::vector<K>& keys, const LookupResult& r,
               FakeDevice* dev) {
  std::vector<int64_t> slots;
  std::vector<float> embedding;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!r.needs_init[i]) continue;
    slots.push_back(r.slots[i]);
    const std::vector<float> init = InitialRow(static_cast<int64_t>(keys[i]), dev->dim());
    embedding.insert(embedding.end(), init.begin(), init.end());
  }
  return t->Fill(step, static_cast<int64_t>(slots.size()), slots.data(), embedding.data(), dev);
}

// A whole step of one lookup: BeginStep, Lookup, Fill (when the lookup
// succeeded), EndStep(commit). For tests where only which keys go where
// matters, not row contents.
template <typename K = int64_t>
LookupResult RunStep(Table* t, FakeDevice* dev, const std::vector<K>& keys,
                     const KeyAccess* access = nullptr, bool commit = true) {
  const Table::StepId step = t->BeginStep();
  LookupResult r = LookupKeys<K>(t, step, keys, dev, access);
  if (r.status.ok()) {
    const Status f = FillNew<K>(t, step, keys, r, dev);
    EXPECT_TRUE(f.ok()) << f.message();
  }
  t->EndStep(step, commit);
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

// Key -> slot of every key with a written row (slot -1 off the device).
inline std::map<int64_t, int64_t> Contents(const Table& t) {
  std::vector<int64_t> keys, slots;
  t.Snapshot(&keys, &slots);
  EXPECT_EQ(keys.size(), slots.size());
  std::map<int64_t, int64_t> out;
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_TRUE(out.emplace(keys[i], slots[i]).second);
  return out;
}

// Device slot of each key per Snapshot; KeySlotMap::kNoSlot for a key that is
// absent, unwritten or off the device (what the old Table::Find returned).
template <typename K>
std::vector<int64_t> SlotsOf(const Table& t, const std::vector<K>& keys) {
  const std::map<int64_t, int64_t> contents = Contents(t);
  std::vector<int64_t> slots;
  for (K k : keys) {
    auto it = contents.find(static_cast<int64_t>(k));
    slots.push_back(it == contents.end() ? KeySlotMap::kNoSlot : it->second);
  }
  return slots;
}

// What Read served: the embeddings (dim floats per key, `untouched` where the
// table wrote nothing) and found.
struct ReadResult {
  Status status;
  std::vector<float> rows;
  std::vector<bool> found;
  std::vector<float> Row(size_t i, int64_t dim) const {
    return std::vector<float>(rows.begin() + static_cast<int64_t>(i) * dim,
                              rows.begin() + static_cast<int64_t>(i + 1) * dim);
  }
};

template <typename K>
ReadResult ReadKeys(const Table& t, const std::vector<K>& keys, const FakeDevice& dev,
                    float untouched = -7.0f) {
  ReadResult r;
  const int64_t dim = t.options().dim;
  r.rows.assign(keys.size() * static_cast<size_t>(dim), untouched);
  std::unique_ptr<bool[]> found(new bool[keys.size() + 1]());
  r.status = t.Read<K>(static_cast<int64_t>(keys.size()), keys.data(), dev, r.rows.data(), found.get());
  r.found.assign(found.get(), found.get() + keys.size());
  return r;
}

// Every counter a failed or read-only call must leave alone. ssd_reads and the
// byte counters are left out: Read reads SSD rows without moving anything.
// The SSD fields are zero in DDR mode, so DDR tests compare them too.
inline bool SameStats(const TableStats& a, const TableStats& b) {
  return a.device_keys == b.device_keys && a.host_keys == b.host_keys && a.hits == b.hits &&
         a.misses == b.misses && a.loads == b.loads && a.evictions == b.evictions &&
         a.new_keys == b.new_keys && a.ssd_keys == b.ssd_keys && a.ssd_loads == b.ssd_loads &&
         a.demotions == b.demotions && a.ssd_writes == b.ssd_writes && a.hot_keys == b.hot_keys &&
         a.hot_hits == b.hot_hits && a.admission_keys == b.admission_keys &&
         a.rejected == b.rejected && a.stale_evicted == b.stale_evicted &&
         a.open_steps == b.open_steps && a.rolled_back_keys == b.rolled_back_keys;
}

// Key batches of the randomized simulations: skewed (low keys are hot) over
// kUniverse ids spread as id * 7 - 3000. The draw order (lookups per step,
// then per lookup its size, then its keys) fixes the sequence for a seed.
class SkewedKeys {
 public:
  SkewedKeys(uint64_t seed, int64_t universe) : rng_(seed), universe_(universe) {}
  int LookupsPerStep() { return 1 + static_cast<int>(rng_() % 3); }
  // 1..30 draws, repeats dropped (Lookup rejects repeated keys).
  std::vector<int64_t> Batch(int max_draws = 30) {
    std::vector<int64_t> keys;
    const int batch = 1 + static_cast<int>(rng_() % static_cast<uint64_t>(max_draws));
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

// A FakeDevice plus the reference value (full row) of every key that exists,
// for the randomized simulations: the rows the table serves are compared
// against it after every move.
class Simulation {
 public:
  using Reference = std::unordered_map<int64_t, std::vector<float>>;

  Simulation(int64_t slots, int64_t dim, std::vector<float> state_init)
      : device_(slots, dim, std::move(state_init)), slots_(slots) {}

  FakeDevice& device() { return device_; }
  Reference& reference() { return reference_; }

  // The invariants of one successful lookup within a step: nothing used
  // earlier in the step (step_slots) is evicted; needs_init exactly for keys
  // the reference lacks; slots in range and distinct. Adds the slots to
  // step_slots.
  void CheckLookup(const std::vector<int64_t>& keys, const LookupResult& r,
                   std::set<int64_t>* step_slots, int step) const {
    for (int64_t s : r.gathered) ASSERT_EQ(step_slots->count(s), 0u) << "step " << step;
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(r.needs_init[i], reference_.count(keys[i]) == 0) << "key " << keys[i];
      ASSERT_GE(r.slots[i], 0);
      ASSERT_LT(r.slots[i], slots_);
      step_slots->insert(r.slots[i]);
    }
    ASSERT_EQ(std::set<int64_t>(r.slots.begin(), r.slots.end()).size(), keys.size());
  }

  // Fill of the new keys; they get their reference row.
  void Fill(Table* t, Table::StepId step, const std::vector<int64_t>& keys, const LookupResult& r) {
    const Status s = FillNew<int64_t>(t, step, keys, r, &device_);
    ASSERT_TRUE(s.ok()) << s.message();
    for (size_t i = 0; i < keys.size(); ++i) {
      if (r.needs_init[i]) reference_[keys[i]] = device_.NewRow(keys[i]);
    }
  }

  // Read by slot, then train (+1 on device and reference): a stale row
  // anywhere shows up on a later read.
  void ReadAndTrain(const std::vector<int64_t>& keys, const LookupResult& r, int step) {
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<float>& expected = reference_[keys[i]];
      ASSERT_EQ(device_.Row(r.slots[i]), expected) << "key " << keys[i] << " step " << step;
      for (float& v : expected) v += 1.0f;
    }
    device_.AddToRows(r.slots, 1.0f);
  }

  // The eval path: Read of every reference key must find it, change no
  // counter, and serve the reference embedding from whichever tier; every
  // device key's full row (Snapshot) must equal the reference.
  void CheckAllRows(const Table& t, const std::string& when, int step) {
    std::vector<int64_t> all;
    for (const auto& kv : reference_) all.push_back(kv.first);
    const int64_t dim = device_.dim();
    const TableStats before = t.stats();
    const ReadResult r = ReadKeys<int64_t>(t, all, device_);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    ASSERT_TRUE(SameStats(t.stats(), before)) << when;  // reads move nothing
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_TRUE(r.found[i]) << when << " key " << all[i];
      const std::vector<float>& ref = reference_[all[i]];
      ASSERT_EQ(r.Row(i, dim), std::vector<float>(ref.begin(), ref.begin() + dim))
          << when << " key " << all[i] << " step " << step;
    }
    for (const auto& [key, slot] : Contents(t)) {
      if (slot < 0) continue;
      ASSERT_EQ(reference_.count(key), 1u) << when << " key " << key;
      ASSERT_EQ(device_.Row(slot), reference_[key]) << when << " key " << key << " step " << step;
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

  // One training step of the randomized simulations: 1-3 lookups of skewed
  // keys in one step. A lookup whose step would need more than the device
  // holds must fail with kResourceExhausted changing no counter (it is
  // counted in *exhausted); any other must succeed, and then goes through
  // CheckLookup, Fill and ReadAndTrain. The step commits.
  void SimulateStep(Table* t, SkewedKeys* draw, int step, int64_t* exhausted) {
    const Table::StepId id = t->BeginStep();
    std::unordered_set<int64_t> step_keys;
    std::set<int64_t> step_slots;
    const int lookups = draw->LookupsPerStep();
    for (int l = 0; l < lookups; ++l) {
      const std::vector<int64_t> keys = draw->Batch();
      std::unordered_set<int64_t> would_use = step_keys;
      would_use.insert(keys.begin(), keys.end());
      const TableStats before = t->stats();
      const LookupResult r = LookupKeys<int64_t>(t, id, keys, &device_);
      if (static_cast<int64_t>(would_use.size()) > slots_) {
        ASSERT_EQ(r.status.code(), StatusCode::kResourceExhausted) << r.status.message();
        ASSERT_TRUE(SameStats(t->stats(), before));
        ASSERT_TRUE(r.gathered.empty() && r.scattered.empty());
        ++*exhausted;
        continue;
      }
      ASSERT_TRUE(r.status.ok()) << r.status.message() << " step " << step;
      step_keys = would_use;
      // A key keeps its slot; no slot serves two keys; nothing used earlier in
      // the step is evicted.
      ASSERT_NO_FATAL_FAILURE(CheckLookup(keys, r, &step_slots, step));
      ASSERT_NO_FATAL_FAILURE(Fill(t, id, keys, r));
      ASSERT_NO_FATAL_FAILURE(ReadAndTrain(keys, r, step));
    }
    t->EndStep(id, /*commit=*/true);
    ASSERT_EQ(device_.bad_slots(), 0);
  }

 private:
  FakeDevice device_;
  int64_t slots_;
  Reference reference_;
};

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
