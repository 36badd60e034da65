// Table checkpoints: Table::Export / Import / clocks (the calls a checkpoint
// is built on) and SaveTableCheckpoint / LoadTableCheckpoint (the files), in
// HBM, DDR and SSD mode, driven like the graph drives a table (FakeDevice)
// against a reference of every key's full row (embedding + optimizer state).
#include "asc/checkpoint_reader.h"
#include "asc/table_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "asc/table.h"
#include "tiering_test_util.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

using testing_util::FakeDevice;
using testing_util::FillNew;
using testing_util::Locate;
using testing_util::LookupKeys;
using testing_util::LookupResult;
using testing_util::ReadKeys;
using testing_util::ReadResult;

constexpr int64_t kDim = 2;
constexpr int64_t kWidth = 3 * kDim;  // embedding + two optimizer-state blocks
constexpr float kStateM = 0.5f;       // initial value of block "adam/m"
constexpr float kStateV = 0.75f;      // initial value of block "adam/v"

// The keys every trained table holds: negative, zero, the map's empty-key
// value and one needing all 64 bits, so a key cut to 32 bits or sign-flipped
// shows.
const std::vector<int64_t> kKeys = {1000, 1007, 1014, 1021, -5, 0, 1042, 1049,
                                    std::numeric_limits<int64_t>::min(), 1063,
                                    int64_t{123456789012}, 1077};

#define EXPECT_HAS(status, text)                                              \
  EXPECT_NE((status).message().find(text), std::string::npos)                 \
      << "message: " << (status).message() << "\nexpected to contain: " << (text)

using testing_util::Mode;

// Key -> full row (kWidth floats) of every key with a written row.
using Reference = std::map<int64_t, std::vector<float>>;

// embedding, adam/m, adam/v: what FakeDevice(.., {kStateM, kStateV}) holds.
CheckpointSchema Schema(int64_t dim = kDim, KeyType key_dtype = KeyType::kInt64) {
  CheckpointSchema s;
  s.key_dtype = key_dtype;
  s.dim = dim;
  s.blocks = {{"embedding", dim}, {"adam/m", dim}, {"adam/v", dim}};
  return s;
}

// Everything Export handed to its sink, concatenated.
struct Exported {
  Status status;
  std::vector<int64_t> keys;
  std::vector<float> rows;
  std::vector<uint32_t> freq;
  int64_t width = 0;
  int batches = 0;
  std::vector<float> Row(size_t i) const {
    return std::vector<float>(rows.begin() + static_cast<int64_t>(i) * width,
                              rows.begin() + static_cast<int64_t>(i + 1) * width);
  }
};

Exported ExportAll(const Table& t, const DeviceRows& rows, int64_t batch = 5) {
  Exported e;
  e.width = rows.width();
  e.status = t.Export(rows, batch, [&](const Table::RowBatch& b) {
    EXPECT_GT(b.n, 0);
    EXPECT_LE(b.n, batch);
    EXPECT_EQ(b.width, e.width);
    e.keys.insert(e.keys.end(), b.keys, b.keys + b.n);
    e.rows.insert(e.rows.end(), b.rows, b.rows + b.n * b.width);
    e.freq.insert(e.freq.end(), b.freq, b.freq + b.n);
    ++e.batches;
    return Status::OK();
  });
  return e;
}

// Export as key -> row.
Reference ExportedRows(const Exported& e) {
  Reference out;
  for (size_t i = 0; i < e.keys.size(); ++i) EXPECT_TRUE(out.emplace(e.keys[i], e.Row(i)).second);
  return out;
}

// The admission records, sorted by key.
std::vector<std::tuple<int64_t, int64_t, int64_t>> Records(const Table& t) {
  std::vector<int64_t> k, c, s;
  const Status st = t.ExportAdmission(&k, &c, &s);
  EXPECT_TRUE(st.ok()) << st.message();
  std::vector<std::tuple<int64_t, int64_t, int64_t>> out;
  for (size_t i = 0; i < k.size(); ++i) out.emplace_back(k[i], c[i], s[i]);
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes a file; a manifest.json gets its manifest.crc32 too (tests that
// edit a manifest want the edit read, not the checksum mismatch).
void WriteFile(const std::string& path, const std::string& text, bool refresh_crc = true) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  const std::string suffix = "/manifest.json";
  if (refresh_crc && path.size() > suffix.size() &&
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08lx",
                  ::crc32_z(0L, reinterpret_cast<const Bytef*>(text.data()), text.size()));
    std::ofstream crc(path.substr(0, path.size() - suffix.size()) + "/manifest.crc32",
                      std::ios::trunc);
    crc << hex;
  }
}

void FlipByte(const std::string& path, size_t offset) {
  std::string data = ReadFile(path);
  ASSERT_LT(offset, data.size()) << path;
  data[offset] = static_cast<char>(data[offset] ^ 0xFF);
  WriteFile(path, data);
}

// Replaces the one occurrence of `from` in the file at `path` (the first one
// if `first`) by `to`.
void ReplaceInFile(const std::string& path, const std::string& from, const std::string& to,
                   bool first = false) {
  std::string text = ReadFile(path);
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "'" << from << "' not in " << path << ":\n" << text;
  if (!first) {
    ASSERT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' twice in " << path;
  }
  text.replace(at, from.size(), to);
  WriteFile(path, text);
}

// Names in `dir` (empty when it does not exist).
std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
  return out;
}

bool HasTmpDir(const std::string& dir) {
  for (const std::string& name : Entries(dir)) {
    if (name.find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

// A table and its device rows.
struct Held {
  std::unique_ptr<Table> table;
  std::unique_ptr<FakeDevice> dev;
};

class TableCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(tmp_.Create("asc_table_checkpoint_")); }

  const std::string& root() const { return tmp_.root(); }
  std::string Path(const std::string& leaf) const { return root() + "/" + leaf; }

  TableOptions Options(int64_t device, int64_t host, int64_t ssd, int64_t dim = kDim) {
    TableOptions o = testing_util::TieredOptions(device, host, dim);
    if (ssd > 0) {
      o.ssd_vocabulary_size = ssd;
      o.ssd_data_path = {tmp_.Dir("ssd")};
      o.ssd_min_free_bytes = 0;
    }
    return o;
  }
  // The trained table of each mode: 12 keys on 4 device rows, the rest on the
  // host tier (DDR) or split between host and SSD (SSD).
  TableOptions ModeOptions(Mode m) {
    switch (m) {
      case Mode::kHbm:
        return Options(16, 0, 0);
      case Mode::kDdr:
        return Options(4, 12, 0);
      case Mode::kSsd:
        return Options(4, 4, 12);
    }
    return {};
  }

  static Held Make(const TableOptions& o, std::vector<float> state_init = {kStateM, kStateV}) {
    Held h;
    h.table = testing_util::MakeTable(o);
    h.dev = std::make_unique<FakeDevice>(o.device_vocabulary_size, o.dim, std::move(state_init));
    return h;
  }

  // One committed training step over unique `keys`: Lookup, Fill of the new
  // keys, every looked-up row checked against the reference (so a row that
  // came back from the host or SSD tier wrong shows), then += delta on the
  // device and in the reference. With admission, every key is recorded once
  // at `time`; rejected keys get no row.
  static void Train(const Held& h, Reference* ref, const std::vector<int64_t>& keys, float delta,
                    bool admission = false, int64_t time = -1) {
    std::vector<int32_t> counts(keys.size(), 1);
    KeyAccess access;
    access.counts = counts.data();
    access.time = time;
    const Table::StepId step = h.table->BeginStep();
    const LookupResult r = LookupKeys<int64_t>(h.table.get(), step, keys, h.dev.get(),
                                               admission ? &access : nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    const Status f = FillNew<int64_t>(h.table.get(), step, keys, r, h.dev.get());
    ASSERT_TRUE(f.ok()) << f.message();
    for (size_t i = 0; i < keys.size(); ++i) {
      if (r.slots[i] < 0) {
        ASSERT_TRUE(admission);
        ASSERT_EQ(ref->count(keys[i]), 0u) << keys[i];
        continue;
      }
      if (r.needs_init[i]) {
        ASSERT_EQ(ref->count(keys[i]), 0u) << keys[i];
        (*ref)[keys[i]] = h.dev->NewRow(keys[i]);
      }
      std::vector<float>& row = ref->at(keys[i]);
      ASSERT_EQ(h.dev->Row(r.slots[i]), row) << "key " << keys[i];
      for (float& v : row) v += delta;
    }
    h.dev->AddToRows(r.slots, delta);
    h.table->EndStep(step, /*commit=*/true);
  }

  // A table of mode m trained on kKeys (one step per key, then a few steps
  // that hit some keys again, so access counts differ and, off HBM, a key
  // comes back from the host or SSD tier). With admission (threshold 2),
  // every key is first seen once at the own clock (rejected), then admitted;
  // key 77777 is only ever seen once; later steps pass explicit times.
  Held Trained(Mode m, Reference* ref, bool admission = false) {
    Held h = Make(ModeOptions(m));
    if (admission) {
      AdmissionOptions a;
      a.access_threshold = 2;
      a.eviction_threshold = 1000;
      const Status s = h.table->ConfigureAdmission(a);
      EXPECT_TRUE(s.ok()) << s.message();
      Train(h, ref, {kKeys[0], kKeys[1], kKeys[2], 77777}, 1.0f, true);  // all rejected
      for (size_t i = 3; i < kKeys.size(); ++i) Train(h, ref, {kKeys[i]}, 1.0f, true);
      EXPECT_TRUE(ref->empty());
    }
    float delta = 0.125f;
    for (int64_t k : kKeys) Train(h, ref, {k}, delta += 0.125f, admission);
    Train(h, ref, {kKeys[0], kKeys[11]}, 3.0f, admission, admission ? 500 : -1);
    Train(h, ref, {kKeys[11], kKeys[10]}, 5.0f, admission, admission ? 501 : -1);
    Train(h, ref, {kKeys[11]}, 7.0f, admission, admission ? 502 : -1);
    EXPECT_EQ(ref->size(), kKeys.size());
    return h;
  }

  // Saves `h` into Path(leaf); the checkpoint must be written.
  std::string Save(const Held& h, const std::string& leaf, CheckpointSummary* summary = nullptr,
                   const CheckpointSchema& schema = Schema()) {
    const std::string dir = Path(leaf);
    CheckpointSaveOptions options;
    options.batch = 5;
    options.global_step = 42;
    CheckpointSummary ignored;
    const Status s = SaveTableCheckpoint(*h.table, *h.dev, schema, options, dir,
                                         summary != nullptr ? summary : &ignored);
    EXPECT_TRUE(s.ok()) << s.message();
    return dir;
  }

  // A copy of checkpoint `dir` to damage.
  std::string Copy(const std::string& dir, const std::string& leaf) {
    const std::string out = Path(leaf);
    fs::copy(dir, out, fs::copy_options::recursive);
    return out;
  }

  // Loads `dir` into a fresh table of `o`; returns the status, keeps the table.
  Status Load(const std::string& dir, const TableOptions& o, Held* out,
              CheckpointSummary* summary = nullptr, const CheckpointSchema& schema = Schema()) {
    *out = Make(o);
    CheckpointSummary ignored;
    return LoadTableCheckpoint(dir, schema, out->table.get(), out->dev.get(),
                               summary != nullptr ? summary : &ignored);
  }

  testing_util::TempDir tmp_;
};

class TableCheckpointModes : public TableCheckpointTest,
                             public ::testing::WithParamInterface<Mode> {};

INSTANTIATE_TEST_SUITE_P(TableCheckpoint, TableCheckpointModes,
                         ::testing::Values(Mode::kHbm, Mode::kDdr, Mode::kSsd),
                         testing_util::ModeParamName);

// Export -> Import into a fresh table of the same options: same keys, same
// full rows, same counts, same order and tiers; reads and later training see
// the same rows.
TEST_P(TableCheckpointModes, ExportImportRoundTrip) {
  Reference ref;
  Held src = Trained(GetParam(), &ref);
  const TableStats before = src.table->stats();
  if (GetParam() == Mode::kHbm) {
    EXPECT_EQ(before.device_keys, 12);
  } else {
    EXPECT_EQ(before.device_keys, 4);
    EXPECT_EQ(before.host_keys + before.ssd_keys, 8);
    EXPECT_GT(before.host_keys, 0);
    if (GetParam() == Mode::kSsd) { EXPECT_GT(before.ssd_keys, 0); }
  }

  const Exported e = ExportAll(*src.table, *src.dev, 5);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.width, kWidth);
  EXPECT_EQ(e.batches, 3);  // 12 keys, 5 per batch
  EXPECT_EQ(ExportedRows(e), ref);  // every key, its full row
  ASSERT_EQ(e.freq.size(), e.keys.size());
  // Hottest first: device keys, then host, then SSD; by count within a tier.
  const std::vector<int8_t> tiers = Locate(*src.table, e.keys);
  EXPECT_TRUE(std::is_sorted(tiers.begin(), tiers.end()));
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), kTierDevice), before.device_keys);
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), kTierHost), before.host_keys);
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), kTierSsd), before.ssd_keys);
  for (size_t i = 1; i < e.keys.size(); ++i) {
    if (tiers[i] == tiers[i - 1]) { EXPECT_GE(e.freq[i - 1], e.freq[i]) << i; }
  }
  if (GetParam() == Mode::kHbm) {
    EXPECT_EQ(e.freq, std::vector<uint32_t>(e.keys.size(), 1u));
  } else {
    EXPECT_EQ(e.keys[0], kKeys[11]);  // looked up 4 times: the hottest key
    EXPECT_EQ(e.freq[0], 4u);
  }
  // Export reads; it moves and counts nothing.
  EXPECT_TRUE(testing_util::SameStats(src.table->stats(), before));
  // A batch of 1 and a batch larger than the table give the same export.
  const Exported one = ExportAll(*src.table, *src.dev, 1);
  const Exported all = ExportAll(*src.table, *src.dev, 100);
  EXPECT_EQ(one.keys, e.keys);
  EXPECT_EQ(one.rows, e.rows);
  EXPECT_EQ(all.keys, e.keys);
  EXPECT_EQ(all.rows, e.rows);
  EXPECT_EQ(all.batches, 1);
  EXPECT_EQ(src.table->Export(*src.dev, 0, [](const Table::RowBatch&) { return Status::OK(); })
                .code(),
            StatusCode::kInvalidArgument);

  Held dst = Make(ModeOptions(GetParam()));
  const Status s = dst.table->Import(static_cast<int64_t>(e.keys.size()), e.keys.data(),
                                     e.rows.data(), e.freq.data(), dst.dev.get());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(dst.table->size(), 12);
  const Exported f = ExportAll(*dst.table, *dst.dev, 5);
  ASSERT_TRUE(f.status.ok()) << f.status.message();
  EXPECT_EQ(f.keys, e.keys);
  EXPECT_EQ(f.rows, e.rows);
  EXPECT_EQ(f.freq, e.freq);
  EXPECT_EQ(Locate(*dst.table, e.keys), tiers);
  const TableStats after = dst.table->stats();
  EXPECT_EQ(after.device_keys, before.device_keys);
  EXPECT_EQ(after.host_keys, before.host_keys);
  EXPECT_EQ(after.ssd_keys, before.ssd_keys);

  // Evaluation reads serve the same embeddings from every tier.
  const ReadResult a = ReadKeys<int64_t>(*src.table, kKeys, *src.dev);
  const ReadResult b = ReadKeys<int64_t>(*dst.table, kKeys, *dst.dev);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  ASSERT_TRUE(b.status.ok()) << b.status.message();
  EXPECT_EQ(b.found, std::vector<bool>(kKeys.size(), true));
  EXPECT_EQ(b.rows, a.rows);
  for (size_t i = 0; i < kKeys.size(); ++i) {
    const std::vector<float>& row = ref.at(kKeys[i]);
    EXPECT_EQ(b.Row(i, kDim), std::vector<float>(row.begin(), row.begin() + kDim)) << kKeys[i];
  }

  // Training goes on from the imported rows: the coldest key (host or SSD off
  // HBM) comes back to the device with its full row, the hottest is a hit.
  ASSERT_NO_FATAL_FAILURE(Train(dst, &ref, {e.keys.back(), e.keys.front()}, 1.0f));
  ASSERT_NO_FATAL_FAILURE(Train(dst, &ref, {e.keys[6]}, 1.0f));
  EXPECT_EQ(dst.dev->bad_slots(), 0);
  EXPECT_EQ(ExportedRows(ExportAll(*dst.table, *dst.dev)), ref);
}

// Keys that only an open, uncommitted step inserted (filled or not) are not
// part of the state; keys the open step looked up that were there are.
TEST_P(TableCheckpointModes, ExportLeavesOutKeysOnlyAnOpenStepInserted) {
  Reference ref;
  Held src = Trained(GetParam(), &ref);
  const Table::StepId step = src.table->BeginStep();
  const std::vector<int64_t> keys = {5555, kKeys[3], 6666};
  const LookupResult r = LookupKeys<int64_t>(src.table.get(), step, keys, src.dev.get());
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.needs_init, (std::vector<bool>{true, false, true}));
  // 5555 is filled (and updated), 6666 never written.
  const int64_t slot = r.slots[0];
  const std::vector<float> init = testing_util::InitialRow(5555, kDim);
  ASSERT_TRUE(src.table->Fill(step, 1, &slot, init.data(), src.dev.get()).ok());
  src.dev->AddToRows({r.slots[0], r.slots[1]}, 1.0f);
  for (float& v : ref.at(kKeys[3])) v += 1.0f;

  const Exported e = ExportAll(*src.table, *src.dev);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(ExportedRows(e), ref);  // no 5555, no 6666; kKeys[3] with the step's update
  // A checkpoint written now is the committed state too.
  CheckpointSummary saved;
  const std::string dir = Save(src, "open", &saved);
  EXPECT_EQ(saved.rows, 12);

  src.table->EndStep(step, /*commit=*/true);
  ref[5555] = src.dev->NewRow(5555);
  for (float& v : ref.at(5555)) v += 1.0f;
  EXPECT_EQ(ExportedRows(ExportAll(*src.table, *src.dev)), ref);  // committed now; 6666 erased

  Held dst;
  const Status s = Load(dir, ModeOptions(GetParam()), &dst);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(dst.table->size(), 12);
  EXPECT_EQ(Locate(*dst.table, {5555, 6666}), (std::vector<int8_t>{kTierAbsent, kTierAbsent}));
}

// Save + Load: rows, admission records and clocks come back; training goes on
// where it stopped (counts and the own clock continue).
TEST_P(TableCheckpointModes, SaveLoadRoundTripWithAdmissionAndClocks) {
  Reference ref;
  Held src = Trained(GetParam(), &ref, /*admission=*/true);
  const Table::Clocks clocks = src.table->clocks();
  EXPECT_EQ(clocks.steps, 25);            // 1 + 9 rejecting steps, 12 + 3 training steps
  EXPECT_EQ(clocks.admission_steps, 22);  // steps that passed no time
  EXPECT_EQ(clocks.admission_time, 502);
  const auto records = Records(*src.table);
  ASSERT_EQ(records.size(), 13u);  // kKeys and 77777 (seen once, never admitted)
  const Exported e = ExportAll(*src.table, *src.dev);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(ExportedRows(e), ref);

  CheckpointSummary saved;
  const std::string dir = Save(src, "nested/dirs/ckpt", &saved);  // parents created
  EXPECT_EQ(saved.rows, 12);
  EXPECT_EQ(saved.admission_records, 13);
  const int64_t data_bytes = 12 * (8 + 4 + kWidth * 4) + 13 * 24;
  EXPECT_EQ(saved.bytes, data_bytes);
  const std::set<std::string> files = Entries(dir);
  for (const char* f : {"keys.bin", "freq.bin", "block-0.bin", "block-1.bin", "block-2.bin",
                        "admission.bin", "manifest.json", "manifest.crc32"}) {
    EXPECT_EQ(files.count(f), 1u) << f;
  }
  EXPECT_EQ(files.count("block-3.bin"), 0u);
  EXPECT_EQ(fs::file_size(dir + "/block-1.bin"), 12u * kDim * 4);
  EXPECT_FALSE(HasTmpDir(Path("nested/dirs")));
  const std::string manifest = ReadFile(dir + "/manifest.json");
  EXPECT_NE(manifest.find("\"global_step\": 42"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"kind\": \"full\""), std::string::npos) << manifest;

  Held dst = Make(ModeOptions(GetParam()));
  AdmissionOptions a;
  a.access_threshold = 2;
  a.eviction_threshold = 1000;
  ASSERT_TRUE(dst.table->ConfigureAdmission(a).ok());
  CheckpointSummary loaded;
  loaded.admission_dropped = -1;
  const Status s = LoadTableCheckpoint(dir, Schema(), dst.table.get(), dst.dev.get(), &loaded);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(loaded.rows, 12);
  EXPECT_EQ(loaded.admission_records, 13);
  EXPECT_EQ(loaded.admission_dropped, 0);
  const Table::Clocks c = dst.table->clocks();
  EXPECT_EQ(c.steps, clocks.steps);
  EXPECT_EQ(c.admission_time, clocks.admission_time);
  EXPECT_EQ(c.admission_steps, clocks.admission_steps);
  EXPECT_EQ(Records(*dst.table), records);
  const Exported f = ExportAll(*dst.table, *dst.dev);
  ASSERT_TRUE(f.status.ok()) << f.status.message();
  EXPECT_EQ(f.keys, e.keys);
  EXPECT_EQ(f.rows, e.rows);
  EXPECT_EQ(f.freq, e.freq);
  EXPECT_EQ(Locate(*dst.table, e.keys), Locate(*src.table, e.keys));
  const ReadResult r = ReadKeys<int64_t>(*dst.table, kKeys, *dst.dev);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.rows, ReadKeys<int64_t>(*src.table, kKeys, *src.dev).rows);

  // 77777's count (1) came back: one more sighting admits it. The step counts
  // on the restored clocks.
  ASSERT_NO_FATAL_FAILURE(Train(dst, &ref, {77777, e.keys.back()}, 1.0f, true));
  EXPECT_EQ(ref.count(77777), 1u);
  const Table::Clocks next = dst.table->clocks();
  EXPECT_EQ(next.steps, clocks.steps + 1);
  EXPECT_EQ(next.admission_steps, clocks.admission_steps + 1);
  EXPECT_EQ(ExportedRows(ExportAll(*dst.table, *dst.dev)), ref);

  // Without admission the table takes the rows and the clock, not the records.
  Held plain;
  CheckpointSummary dropped;
  const Status p = Load(dir, ModeOptions(GetParam()), &plain, &dropped);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(dropped.rows, 12);
  EXPECT_EQ(dropped.admission_records, 13);
  EXPECT_EQ(dropped.admission_dropped, 13);
  EXPECT_FALSE(plain.table->has_admission());
  EXPECT_EQ(plain.table->clocks().steps, clocks.steps);
  EXPECT_EQ(plain.table->clocks().admission_steps, 0);
  EXPECT_EQ(ExportAll(*plain.table, *plain.dev).rows, e.rows);
}

// The table's blocks are matched to the checkpoint's by name: a table whose
// variables hold adam/v before adam/m gets each block where it belongs.
TEST_P(TableCheckpointModes, BlocksAreMatchedByName) {
  Reference ref;
  Held src = Trained(GetParam(), &ref);
  const std::string dir = Save(src, "ckpt");
  CheckpointSchema swapped = Schema();
  std::swap(swapped.blocks[1], swapped.blocks[2]);  // embedding, adam/v, adam/m
  Held dst = Make(ModeOptions(GetParam()), {kStateV, kStateM});
  CheckpointSummary summary;
  const Status s = LoadTableCheckpoint(dir, swapped, dst.table.get(), dst.dev.get(), &summary);
  ASSERT_TRUE(s.ok()) << s.message();
  Reference expected;
  for (const auto& [key, row] : ref) {
    std::vector<float> r(row.begin(), row.begin() + kDim);
    r.insert(r.end(), row.begin() + 2 * kDim, row.end());          // adam/v
    r.insert(r.end(), row.begin() + kDim, row.begin() + 2 * kDim);  // adam/m
    expected[key] = r;
  }
  EXPECT_EQ(ExportedRows(ExportAll(*dst.table, *dst.dev)), expected);
  // Saved again in the table's own order and loaded into the original layout:
  // the rows are what they were.
  Held back;
  const std::string again = Save(dst, "again", nullptr, swapped);
  const Status b = Load(again, ModeOptions(GetParam()), &back);
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_EQ(ExportedRows(ExportAll(*back.table, *back.dev)), ref);
}

TEST_P(TableCheckpointModes, EmptyTableRoundTrip) {
  Held src = Make(ModeOptions(GetParam()));
  CheckpointSummary saved;
  const std::string dir = Save(src, "empty", &saved);
  EXPECT_EQ(saved.rows, 0);
  EXPECT_EQ(saved.bytes, 0);
  Held dst;
  CheckpointSummary loaded;
  const Status s = Load(dir, ModeOptions(GetParam()), &dst, &loaded);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(loaded.rows, 0);
  EXPECT_EQ(dst.table->size(), 0);
}

// ---- Import placement and errors -------------------------------------------------

// n full rows, distinct per key and per column.
std::vector<float> RowsOf(const std::vector<int64_t>& keys) {
  std::vector<float> rows;
  for (int64_t k : keys) {
    const std::vector<float> r = testing_util::InitialRow(k, kWidth);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

Status ImportKeys(const Held& h, const std::vector<int64_t>& keys,
                  const std::vector<uint32_t>& freq = {}) {
  const std::vector<float> rows = RowsOf(keys);
  return h.table->Import(static_cast<int64_t>(keys.size()), keys.data(), rows.data(),
                         freq.empty() ? nullptr : freq.data(), h.dev.get());
}

TEST_F(TableCheckpointTest, ImportFillsDeviceThenHostThenSsd) {
  Held h = Make(Options(2, 3, 4));
  const std::vector<int64_t> keys = {1, 2, 3, 4, 5, 6, 7};
  ASSERT_TRUE(ImportKeys(h, keys, {9, 8, 7, 6, 5, 4, 3}).ok());
  EXPECT_EQ(Locate(*h.table, keys), (std::vector<int8_t>{kTierDevice, kTierDevice, kTierHost,
                                                         kTierHost, kTierHost, kTierSsd,
                                                         kTierSsd}));
  EXPECT_EQ(h.dev->scattered().size(), 2u);  // one batched scatter of the device rows
  // Later calls come after: the device and host tiers are full.
  ASSERT_TRUE(ImportKeys(h, {8, 9}).ok());
  EXPECT_EQ(Locate(*h.table, {8, 9}), (std::vector<int8_t>{kTierSsd, kTierSsd}));
  const TableStats s = h.table->stats();
  EXPECT_EQ(s.device_keys, 2);
  EXPECT_EQ(s.host_keys, 3);
  EXPECT_EQ(s.ssd_keys, 4);
  EXPECT_EQ(s.new_keys, 0);  // imports are not lookups

  const Status full = ImportKeys(h, {10});
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(),
            "import into table 'emb': 10 keys do not fit the tiers: device 2 + "
            "host_vocabulary_size 3 + ssd_vocabulary_size 4");
  EXPECT_EQ(h.table->size(), 9);
  EXPECT_EQ(Locate(*h.table, {10}), std::vector<int8_t>{kTierAbsent});

  // Every row, from every tier, is the imported one; counts went with them.
  const std::vector<int64_t> all = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Exported e = ExportAll(*h.table, *h.dev, 4);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  Reference expected;
  for (int64_t k : all) expected[k] = testing_util::InitialRow(k, kWidth);
  EXPECT_EQ(ExportedRows(e), expected);
  EXPECT_EQ(e.keys, all);  // tier, then count: the import order here
  EXPECT_EQ(e.freq, (std::vector<uint32_t>{9, 8, 7, 6, 5, 1, 1, 1, 1}));
  const ReadResult r = ReadKeys<int64_t>(*h.table, all, *h.dev);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(r.Row(i, kDim), testing_util::InitialRow(all[i], kDim)) << all[i];
  }
}

TEST_F(TableCheckpointTest, ImportThatDoesNotFitChangesNothing) {
  Held h = Make(Options(2, 2, 0));
  const Status s = ImportKeys(h, {1, 2, 3, 4, 5});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "import into table 'emb': 5 keys do not fit the tiers: device 2 + "
            "host_vocabulary_size 2 + ssd_vocabulary_size 0");
  EXPECT_EQ(h.table->size(), 0);
  EXPECT_EQ(h.table->stats().device_keys, 0);
  EXPECT_EQ(h.table->stats().host_keys, 0);
  // All or nothing: the whole tier is still free.
  ASSERT_TRUE(ImportKeys(h, {1, 2, 3, 4}).ok());
  EXPECT_EQ(Locate(*h.table, {1, 2, 3, 4}),
            (std::vector<int8_t>{kTierDevice, kTierDevice, kTierHost, kTierHost}));
}

TEST_F(TableCheckpointTest, ImportHbmFillsTheDeviceOrGrowsIt) {
  Held h = Make(Options(4, 0, 0));
  Status s = ImportKeys(h, {1, 2, 3, 4, 5});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "import into table 'emb': 5 keys do not fit device_vocabulary_size=4 (HBM mode, no "
            "dynamic expansion): enlarge it or add a host tier");
  EXPECT_EQ(h.table->size(), 0);
  ASSERT_TRUE(ImportKeys(h, {1, 2, 3}).ok());
  s = ImportKeys(h, {4, 5});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("5 keys do not fit device_vocabulary_size=4"), std::string::npos)
      << s.message();
  EXPECT_EQ(h.table->size(), 3);

  TableOptions o = Options(4, 0, 0);
  o.dynamic_expansion = true;
  Held g = Make(o);
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < 10; ++k) keys.push_back(k * 3 - 7);
  ASSERT_TRUE(ImportKeys(g, {100, 101, 102}).ok());
  const Status grown = ImportKeys(g, keys);
  ASSERT_TRUE(grown.ok()) << grown.message();
  EXPECT_GE(g.table->capacity(), 13);
  EXPECT_EQ(g.dev->rows(), g.table->capacity());
  EXPECT_GE(g.dev->grows(), 1);
  keys.insert(keys.begin(), {100, 101, 102});
  EXPECT_EQ(Locate(*g.table, keys), std::vector<int8_t>(keys.size(), kTierDevice));
  Reference expected;
  for (int64_t k : keys) expected[k] = testing_util::InitialRow(k, kWidth);
  EXPECT_EQ(ExportedRows(ExportAll(*g.table, *g.dev)), expected);
  EXPECT_EQ(g.dev->bad_slots(), 0);
}

TEST_F(TableCheckpointTest, ImportRejectsRepeatedAndHeldKeys) {
  for (const TableOptions& o : {Options(4, 0, 0), Options(2, 4, 0)}) {
    Held h = Make(o);
    Status s = ImportKeys(h, {1, 2, 1});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "import into table 'emb': a key is repeated");
    EXPECT_EQ(h.table->size(), 0);
    ASSERT_TRUE(ImportKeys(h, {1, 2}).ok());
    s = ImportKeys(h, {3, 2});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "import into table 'emb': key 2 is already held");
    EXPECT_EQ(h.table->size(), 2);
    EXPECT_EQ(Locate(*h.table, {3}), std::vector<int8_t>{kTierAbsent});
    const int64_t key = 5;
    const std::vector<float> row = RowsOf({5});
    EXPECT_EQ(h.table->Import(-1, &key, row.data(), nullptr, h.dev.get()).code(),
              StatusCode::kInvalidArgument);
    EXPECT_TRUE(h.table->Import(0, nullptr, nullptr, nullptr, h.dev.get()).ok());
  }
  TableOptions o = Options(4, 0, 0);
  o.key_dtype = KeyType::kInt32;
  Held h = Make(o);
  const Status s = ImportKeys(h, {1, int64_t{1} << 40});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("int32 table 'emb'"), std::string::npos) << s.message();
  EXPECT_EQ(h.table->size(), 0);
}

TEST_F(TableCheckpointTest, RestoringWithAnOpenStepIsFailedPrecondition) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref);
  const std::string dir = Save(src, "ckpt");

  Held h = Make(Options(4, 12, 0));
  const Table::StepId step = h.table->BeginStep();
  Status s = ImportKeys(h, {1, 2});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "import into table 'emb': 1 steps are open; restore before training");
  Table::Clocks c;
  c.steps = 9;
  s = h.table->SetClocks(c);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  CheckpointSummary summary;
  s = LoadTableCheckpoint(dir, Schema(), h.table.get(), h.dev.get(), &summary);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.message();
  EXPECT_EQ(h.table->size(), 0);
  h.table->EndStep(step, true);
  // Export is fine with an open step (see ExportLeavesOut...); restore is not.
  c.steps = -1;
  EXPECT_EQ(h.table->SetClocks(c).code(), StatusCode::kInvalidArgument);
  // Uninitialised variables: nothing imported.
  h.dev->SetUninitialised(true);
  EXPECT_EQ(ImportKeys(h, {1, 2}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(h.table->size(), 0);
  h.dev->SetUninitialised(false);
  s = LoadTableCheckpoint(dir, Schema(), h.table.get(), h.dev.get(), &summary);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ExportedRows(ExportAll(*h.table, *h.dev)), ref);
  EXPECT_EQ(h.table->clocks().steps, src.table->clocks().steps);
}

// ---- files: errors ---------------------------------------------------------------------

// The import's own errors come through the load unchanged (the files are fine).
TEST_F(TableCheckpointTest, LoadIntoTooSmallATableIsResourceExhausted) {
  Reference ref;
  Held src = Trained(Mode::kSsd, &ref);
  const std::string dir = Save(src, "ckpt");
  Held h;
  Status s = Load(dir, Options(4, 4, 0), &h);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();
  EXPECT_EQ(s.message(),
            "import into table 'emb': 12 keys do not fit the tiers: device 4 + "
            "host_vocabulary_size 4 + ssd_vocabulary_size 0");
  s = Load(dir, Options(8, 0, 0), &h);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();
  EXPECT_HAS(s, "12 keys do not fit device_vocabulary_size=8");
  // A smaller SSD tier is fine while the keys fit.
  s = Load(dir, Options(2, 2, 8), &h);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ExportedRows(ExportAll(*h.table, *h.dev)), ref);
}

TEST_F(TableCheckpointTest, SavingIntoAnExistingDirectoryIsAlreadyExists) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref);
  const std::string dir = Save(src, "ckpt");
  const std::string manifest = ReadFile(dir + "/manifest.json");
  CheckpointSummary summary;
  Status s = SaveTableCheckpoint(*src.table, *src.dev, Schema(), {}, dir, &summary);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "table checkpoint '" + dir + "' exists already");
  EXPECT_EQ(ReadFile(dir + "/manifest.json"), manifest);
  // An empty directory is taken just the same.
  fs::create_directories(Path("empty"));
  s = SaveTableCheckpoint(*src.table, *src.dev, Schema(), {}, Path("empty"), &summary);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(Entries(Path("empty")).empty());
  EXPECT_FALSE(HasTmpDir(root()));
}

TEST_F(TableCheckpointTest, LoadingWhatIsNotThereIsNotFound) {
  Reference ref;
  Held src = Trained(Mode::kHbm, &ref);
  const std::string dir = Save(src, "ckpt");
  Held h;
  Status s = Load(Path("missing"), Options(16, 0, 0), &h);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "table checkpoint directory '" + Path("missing") + "' does not exist");
  fs::create_directories(Path("unfinished"));
  s = Load(Path("unfinished"), Options(16, 0, 0), &h);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_HAS(s, "has no manifest.json");
  const std::string gone = Copy(dir, "gone");
  fs::remove(gone + "/block-2.bin");
  s = Load(gone, Options(16, 0, 0), &h);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "checkpoint file '" + gone + "/block-2.bin' is missing");
  EXPECT_EQ(h.table->size(), 0);
}

// A file of the wrong size is found before anything is imported.
TEST_F(TableCheckpointTest, TruncatedFileIsDataLossBeforeAnythingIsImported) {
  Reference ref;
  Held src = Trained(Mode::kSsd, &ref);
  const std::string dir = Save(src, "ckpt");
  for (const std::string file : {"block-1.bin", "keys.bin", "block-2.bin", "freq.bin"}) {
    SCOPED_TRACE(file);
    const std::string copy = Copy(dir, "truncated-" + file);
    const uintmax_t size = fs::file_size(copy + "/" + file);
    fs::resize_file(copy + "/" + file, size - 4);
    Held h;
    const Status s = Load(copy, ModeOptions(Mode::kSsd), &h);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_EQ(s.message(), "checkpoint file '" + copy + "/" + file + "' has " +
                               std::to_string(size - 4) + " bytes, its manifest says " +
                               std::to_string(size) + " (truncated or overwritten)");
    EXPECT_EQ(h.table->size(), 0);
    EXPECT_EQ(h.table->stats().device_keys, 0);
    EXPECT_EQ(h.table->stats().ssd_keys, 0);
    EXPECT_EQ(h.dev->loaded(), 0);  // no row was scattered
  }
}

// One flipped byte anywhere in a data file fails its CRC-32: DataLoss naming
// the file. (The table then holds a partial load; the caller resets it.)
TEST_F(TableCheckpointTest, FlippedByteIsDataLossNamingTheFile) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref, /*admission=*/true);
  const std::string dir = Save(src, "ckpt");
  AdmissionOptions a;
  a.access_threshold = 2;
  // (file, byte): the top byte of the first key (a different, valid key), a
  // count, a float of each block, an admission count.
  const std::vector<std::pair<std::string, size_t>> damage = {
      {"keys.bin", 7}, {"keys.bin", 8 * 11}, {"freq.bin", 0}, {"block-0.bin", 5},
      {"block-1.bin", 47}, {"block-2.bin", 90}, {"admission.bin", 8}};
  for (const auto& [file, offset] : damage) {
    SCOPED_TRACE(file + " byte " + std::to_string(offset));
    const std::string copy = Copy(dir, "flipped-" + file + std::to_string(offset));
    ASSERT_NO_FATAL_FAILURE(FlipByte(copy + "/" + file, offset));
    Held h = Make(ModeOptions(Mode::kDdr));
    ASSERT_TRUE(h.table->ConfigureAdmission(a).ok());
    CheckpointSummary summary;
    const Status s = LoadTableCheckpoint(copy, Schema(), h.table.get(), h.dev.get(), &summary);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.message();
    EXPECT_EQ(s.message(),
              "checkpoint file '" + copy + "/" + file + "' fails its CRC-32 check (corrupt)");
  }
}

// The same for an int32 table, where a flipped high byte of a key makes it
// out of range: still a corrupt file, not a bad key.
TEST_F(TableCheckpointTest, FlippedKeyByteOfInt32TableIsDataLoss) {
  TableOptions o = Options(4, 12, 0);
  o.key_dtype = KeyType::kInt32;
  Held src = Make(o);
  Reference ref;
  for (int64_t k : {5, -9, 70000, 12, 13, 14}) ASSERT_NO_FATAL_FAILURE(Train(src, &ref, {k}, 1.0f));
  const CheckpointSchema schema = Schema(kDim, KeyType::kInt32);
  const std::string dir = Save(src, "ckpt", nullptr, schema);
  // Byte 6 of a key: out of int32 range. Two keys swapped into one: repeated.
  const std::string range = Copy(dir, "range");
  ASSERT_NO_FATAL_FAILURE(FlipByte(range + "/keys.bin", 8 * 2 + 6));
  std::string keys = ReadFile(dir + "/keys.bin");
  std::copy_n(keys.begin(), 8, keys.begin() + 8);
  const std::string repeated = Copy(dir, "repeated");
  WriteFile(repeated + "/keys.bin", keys);
  for (const std::string& copy : {range, repeated}) {
    SCOPED_TRACE(copy);
    Held h = Make(o);
    CheckpointSummary summary;
    const Status s = LoadTableCheckpoint(copy, schema, h.table.get(), h.dev.get(), &summary);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.message();
    EXPECT_EQ(s.message(),
              "checkpoint file '" + copy + "/keys.bin' fails its CRC-32 check (corrupt)");
  }
  // Undamaged, it loads.
  Held h = Make(o);
  CheckpointSummary summary;
  const Status s = LoadTableCheckpoint(dir, schema, h.table.get(), h.dev.get(), &summary);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ExportedRows(ExportAll(*h.table, *h.dev)), ref);
}

TEST_F(TableCheckpointTest, MalformedManifestIsDataLoss) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref);
  const std::string dir = Save(src, "ckpt");
  const std::string text = ReadFile(dir + "/manifest.json");
  // The manifest's text `from` becomes `to` (the whole text if from == text);
  // the message names `file` (the first file the change breaks; "" for the
  // checkpoint directory).
  struct Case {
    std::string name, from, to, message, file = "manifest.json";
  };
  const std::vector<Case> cases = {
      {"not-json", text, text.substr(0, text.size() / 2), "is malformed"},
      {"empty", text, "", "is malformed"},
      {"array", text, "[1, 2]", "is malformed"},
      {"other-format", "\"mx_rec.table_checkpoint\"", "\"tf.checkpoint\"",
       "is not an mx_rec table checkpoint manifest"},
      {"no-files", "\"files\"", "\"filez\"", "is malformed"},
      {"rows-string", "\"rows\": 12", "\"rows\": \"12\"", "is malformed", ""},
      {"dim-string", "\"dim\": 2", "\"dim\": [2]", "is malformed", ""},
      {"rows-wrong", "\"rows\": 12", "\"rows\": 11", "does not hold 11 rows", "block-0.bin"},
      {"file-unlisted", "\"block-1.bin\"", "\"block-7.bin\"", "lists no 'block-1.bin'"},
      {"no-crc", "\"crc32\"", "\"crc\"", "is malformed", ""},
      {"clocks-missing", "\"admission_steps\"", "\"admission_stepz\"", "is malformed", ""},
      {"unknown-kind", "\"kind\": \"full\"", "\"kind\": \"weird\"", "unknown kind 'weird'", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string copy = Copy(dir, c.name);
    if (c.from == text) {
      WriteFile(copy + "/manifest.json", c.to);
    } else {
      ASSERT_NO_FATAL_FAILURE(
          ReplaceInFile(copy + "/manifest.json", c.from, c.to, /*first=*/c.name == "no-crc"));
    }
    Held h;
    const Status s = Load(copy, ModeOptions(Mode::kDdr), &h);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.message();
    EXPECT_HAS(s, "'" + copy + (c.file.empty() ? "" : "/" + c.file) + "'");
    EXPECT_HAS(s, c.message);
    if (c.name != "clocks-missing") { EXPECT_EQ(h.table->size(), 0); }
  }
  // A newer format is not corrupt: it is refused by name.
  const std::string newer = Copy(dir, "newer");
  ASSERT_NO_FATAL_FAILURE(
      ReplaceInFile(newer + "/manifest.json", "\"format_version\": 1", "\"format_version\": 2"));
  Held h;
  const Status s = Load(newer, ModeOptions(Mode::kDdr), &h);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "'" + newer + "/manifest.json' has format_version 2; this mx_rec reads "
                         "version 1");
}

// A table without some of the checkpoint's blocks (an evaluation graph has no
// optimizer state) loads the blocks it has.
TEST_F(TableCheckpointTest, BlocksTheTableLacksAreSkipped) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref);
  const std::string dir = Save(src, "ckpt");
  TableOptions o = ModeOptions(Mode::kDdr);
  Held h = Make(o, {});
  CheckpointSchema embedding_only = Schema();
  embedding_only.blocks.resize(1);
  CheckpointSummary summary;
  ASSERT_TRUE(LoadTableCheckpoint(dir, embedding_only, h.table.get(), h.dev.get(), &summary).ok());
  EXPECT_EQ(h.table->size(), src.table->size());
  std::vector<int64_t> keys;
  std::vector<int64_t> slots;
  src.table->Snapshot(&keys, &slots);
  std::vector<float> want(keys.size() * kDim), got(keys.size() * kDim);
  std::unique_ptr<bool[]> found(new bool[keys.size()]);
  ASSERT_TRUE(src.table->Read(static_cast<int64_t>(keys.size()), keys.data(), *src.dev,
                              want.data(), found.get()).ok());
  ASSERT_TRUE(h.table->Read(static_cast<int64_t>(keys.size()), keys.data(), *h.dev, got.data(),
                            found.get()).ok());
  EXPECT_EQ(got, want);
}

// The manifest is checked too: an edit or a flipped digit that leaves valid
// JSON (a clock, say) is DataLoss, as is a missing manifest.crc32.
TEST_F(TableCheckpointTest, ManifestFailingItsChecksumIsDataLoss) {
  Reference ref;
  Held src = Trained(Mode::kHbm, &ref);
  const std::string dir = Save(src, "ckpt");
  const std::string text = ReadFile(dir + "/manifest.json");
  const size_t at = text.find("\"steps\": ");
  ASSERT_NE(at, std::string::npos);
  std::string edited = text;
  edited.insert(at + 9, "1");  // a larger step clock, still valid JSON
  WriteFile(dir + "/manifest.json", edited, /*refresh_crc=*/false);
  Held h = Make(ModeOptions(Mode::kHbm));
  CheckpointSummary summary;
  Status s = LoadTableCheckpoint(dir, Schema(), h.table.get(), h.dev.get(), &summary);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "'" + dir + "/manifest.json' does not match its CRC-32 in "
                         "manifest.crc32 (corrupt)");
  EXPECT_EQ(h.table->size(), 0);
  WriteFile(dir + "/manifest.json", text, /*refresh_crc=*/false);
  fs::remove(dir + "/manifest.crc32");
  s = LoadTableCheckpoint(dir, Schema(), h.table.get(), h.dev.get(), &summary);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "table checkpoint '" + dir + "' has no manifest.crc32");
}

TEST_F(TableCheckpointTest, SchemaMismatchNamesTheTableAndBothValues) {
  Reference ref;
  Held src = Trained(Mode::kHbm, &ref);
  const std::string dir = Save(src, "ckpt");
  const std::string prefix = "table 'clicks': checkpoint '" + dir + "' ";
  auto load = [&](TableOptions o, const CheckpointSchema& schema,
                  std::vector<float> state_init) -> Status {
    o.name = "clicks";
    Held h = Make(o, std::move(state_init));
    CheckpointSummary summary;
    const Status s = LoadTableCheckpoint(dir, schema, h.table.get(), h.dev.get(), &summary);
    EXPECT_EQ(h.table->size(), 0);  // checked before importing anything
    EXPECT_EQ(h.dev->loaded(), 0);
    return s;
  };
  Status s = load(Options(16, 0, 0, 3), Schema(3), {kStateM, kStateV});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), prefix + "has dim 2, the table 3");

  TableOptions int32 = Options(16, 0, 0);
  int32.key_dtype = KeyType::kInt32;
  s = load(int32, Schema(kDim, KeyType::kInt32), {kStateM, kStateV});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), prefix + "has key dtype int64, the table int32");

  CheckpointSchema renamed = Schema();
  renamed.blocks[2].name = "adagrad/accumulator";
  s = load(Options(16, 0, 0), renamed, {kStateM, kStateV});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), prefix +
                             "holds blocks [embedding, adam/m, adam/v], the table has [embedding, "
                             "adam/m, adagrad/accumulator] (the hash optimizers differ)");

  // Same names, same row width, other block widths.
  CheckpointSchema uneven = Schema();
  uneven.blocks[1].width = 1;
  uneven.blocks[2].width = 3;
  s = load(Options(16, 0, 0), uneven, {kStateM, kStateV});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), prefix + "has block 'adam/m' of width 2, the table 1");

  // A schema that does not describe the rows is the caller's mistake.
  CheckpointSchema wrong = Schema();
  wrong.blocks[0].width = 1;
  s = load(Options(16, 0, 0), wrong, {kStateM, kStateV});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_HAS(s, "checkpoint schema");
}

// A save leaves the checkpoint or nothing: never "<dir>.tmp-<pid>".
TEST_F(TableCheckpointTest, SaveLeavesNoTemporaryDirectory) {
  Reference ref;
  Held src = Trained(Mode::kDdr, &ref);
  CheckpointSummary summary;
  Save(src, "ok");
  EXPECT_EQ(Entries(root()), (std::set<std::string>{"ok"}));

  // One left by an earlier failed save of this process is replaced.
  const std::string stale = Path("second.tmp-" + std::to_string(::getpid()));
  fs::create_directories(stale);
  WriteFile(stale + "/junk", "junk");
  const std::string second = Save(src, "second");
  EXPECT_EQ(Entries(root()), (std::set<std::string>{"ok", "second"}));
  EXPECT_EQ(Entries(second).count("junk"), 0u);

  // Bad arguments: nothing is created.
  CheckpointSchema wrong = Schema();
  wrong.blocks.pop_back();
  Status s = SaveTableCheckpoint(*src.table, *src.dev, wrong, {}, Path("bad"), &summary);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  CheckpointSaveOptions zero;
  zero.batch = 0;
  s = SaveTableCheckpoint(*src.table, *src.dev, Schema(), zero, Path("bad"), &summary);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  WriteFile(Path("file"), "x");
  s = SaveTableCheckpoint(*src.table, *src.dev, Schema(), {}, Path("file/ckpt"), &summary);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Entries(root()), (std::set<std::string>{"ok", "second", "file"}));

  // A save failing half-way (the export: a state block added after rows moved
  // to the host tier) removes what it wrote.
  src.dev->AddStateBlock(0.25f);
  CheckpointSchema wider = Schema();
  wider.blocks.push_back({"adam/extra", kDim});
  s = SaveTableCheckpoint(*src.table, *src.dev, wider, {}, Path("failed"), &summary);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_HAS(s, "export of table 'emb'");
  EXPECT_EQ(Entries(root()), (std::set<std::string>{"ok", "second", "file"}));
  EXPECT_FALSE(HasTmpDir(root()));

  // A sink error stops Export and is returned.
  int calls = 0;
  s = src.table->Export(*src.dev, 1, [&](const Table::RowBatch&) {
    ++calls;
    return Status::Internal("sink full");
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "sink full");
  EXPECT_EQ(calls, 1);
}

// ReadTableCheckpoint gives every admitted key of any mode's checkpoint with
// its embedding (the first dim floats of its row), and nothing else.
TEST_P(TableCheckpointModes, ReaderGivesEveryKeyWithItsEmbedding) {
  Reference ref;
  Held src = Trained(GetParam(), &ref, /*admission=*/true);
  const std::string dir = Save(src, "read");
  CheckpointRows rows;
  CheckpointReadOptions read;
  read.name = "t";
  read.dim = kDim;
  read.expected_rows = static_cast<int64_t>(ref.size());
  const Status s = ReadTableCheckpoint(dir, read, &rows);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(rows.dim, kDim);
  ASSERT_EQ(rows.keys.size(), ref.size());
  ASSERT_EQ(rows.embedding.size(), ref.size() * kDim);
  for (size_t i = 0; i < rows.keys.size(); ++i) {
    ASSERT_EQ(ref.count(rows.keys[i]), 1u) << rows.keys[i];
    const std::vector<float>& full = ref.at(rows.keys[i]);
    EXPECT_EQ(std::vector<float>(rows.embedding.begin() + static_cast<int64_t>(i) * kDim,
                                 rows.embedding.begin() + static_cast<int64_t>(i + 1) * kDim),
              std::vector<float>(full.begin(), full.begin() + kDim))
        << "key " << rows.keys[i];
  }
}

TEST_F(TableCheckpointTest, ReaderChecksSchemaAndFiles) {
  Reference ref;
  Held src = Trained(Mode::kHbm, &ref);
  const std::string dir = Save(src, "read");
  CheckpointRows rows;
  CheckpointReadOptions read;
  read.name = "t";
  read.dim = kDim + 1;
  EXPECT_EQ(ReadTableCheckpoint(dir, read, &rows).code(), StatusCode::kInvalidArgument);
  read.dim = kDim;
  read.key_dtype = KeyType::kInt32;
  EXPECT_EQ(ReadTableCheckpoint(dir, read, &rows).code(), StatusCode::kInvalidArgument);
  read.key_dtype = KeyType::kInt64;
  EXPECT_EQ(ReadTableCheckpoint(Path("absent"), read, &rows).code(), StatusCode::kNotFound);
  const std::string damaged = Copy(dir, "damaged");
  std::string block = ReadFile(damaged + "/block-0.bin");
  block[3] ^= 0x5a;
  std::ofstream(damaged + "/block-0.bin", std::ios::binary | std::ios::trunc) << block;
  EXPECT_EQ(ReadTableCheckpoint(damaged, read, &rows).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace asc
