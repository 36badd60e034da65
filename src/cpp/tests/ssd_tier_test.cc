// SsdTier: RocksDB-backed row store of the SSD tier.
#include "asc/ssd_tier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tiering_test_util.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards (by tmp_).
class SsdTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.Create("asc_ssd_test_"));
    root_ = tmp_.root();
  }
  std::string Dir(const std::string& leaf) { return tmp_.Dir(leaf); }
  SsdTierOptions Options(std::vector<std::string> paths, int64_t width = 3, int64_t cap = 100) {
    SsdTierOptions o;
    o.paths = std::move(paths);
    o.name = "emb";
    o.row_width = width;
    o.capacity = cap;
    o.min_free_bytes = 0;
    return o;
  }
  std::unique_ptr<SsdTier> Open(const SsdTierOptions& o) {
    std::unique_ptr<SsdTier> t;
    const Status s = SsdTier::Open(o, &t);
    EXPECT_TRUE(s.ok()) << s.message();
    return t;
  }
  testing_util::TempDir tmp_;
  std::string root_;
};

std::vector<float> RowsFor(const std::vector<int64_t>& keys, int64_t w, float salt = 0.0f) {
  std::vector<float> rows;
  for (int64_t k : keys) {
    for (int64_t c = 0; c < w; ++c) rows.push_back(static_cast<float>(k % 1000) * 0.5f + c + salt);
  }
  return rows;
}

struct Read {
  Status status;
  std::vector<float> rows;
  std::vector<bool> found;
};

Read Get(const SsdTier& t, const std::vector<int64_t>& keys) {
  Read r;
  const size_t n = keys.size();
  r.rows.assign(n * t.row_width(), -9.0f);
  std::unique_ptr<bool[]> found(new bool[n + 1]());
  r.status = t.Get(static_cast<int64_t>(n), keys.data(), r.rows.data(), found.get());
  r.found.assign(found.get(), found.get() + n);
  return r;
}

TEST_F(SsdTierTest, PutGetEraseRoundTrip) {
  const std::string path = Dir("a");
  auto t = Open(Options({path}));
  ASSERT_EQ(t->directories(), std::vector<std::string>{path + "/emb"});
  EXPECT_TRUE(fs::is_directory(path + "/emb"));
  const std::vector<int64_t> keys = {0, 1, -1, 42, std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max()};
  const std::vector<float> rows = RowsFor(keys, 3);
  ASSERT_TRUE(t->Put(6, keys.data(), rows.data()).ok());
  EXPECT_EQ(t->size(), 6);

  Read r = Get(*t, {42, 7, std::numeric_limits<int64_t>::min(), 0});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.found, (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(std::vector<float>(r.rows.begin(), r.rows.begin() + 3),
            std::vector<float>(rows.begin() + 9, rows.begin() + 12));
  EXPECT_EQ(std::vector<float>(r.rows.begin() + 3, r.rows.begin() + 6), std::vector<float>(3, -9.0f));
  EXPECT_EQ(std::vector<float>(r.rows.begin() + 6, r.rows.begin() + 9),
            std::vector<float>(rows.begin() + 12, rows.begin() + 15));

  // Overwrite keeps the count and returns the new row.
  const std::vector<int64_t> again = {42};
  const std::vector<float> newer = {7, 8, 9};
  ASSERT_TRUE(t->Put(1, again.data(), newer.data()).ok());
  EXPECT_EQ(t->size(), 6);
  EXPECT_EQ(Get(*t, {42}).rows, newer);

  const std::vector<int64_t> gone = {42, 1, 12345};
  ASSERT_TRUE(t->Erase(3, gone.data()).ok());
  EXPECT_EQ(t->size(), 4);
  r = Get(*t, {42, 1, -1});
  EXPECT_EQ(r.found, (std::vector<bool>{false, false, true}));
  EXPECT_EQ(t->PathOf(-1), 0);
  EXPECT_EQ(t->PathOf(42), -1);

  const SsdTierStats s = t->stats();
  EXPECT_EQ(s.rows, 4);
  EXPECT_EQ(s.writes, 7);
  EXPECT_EQ(s.bytes_written, 7 * 3 * 4);
  EXPECT_EQ(s.reads, 3 + 1 + 1);
  EXPECT_EQ(s.bytes_read, 5 * 3 * 4);
  EXPECT_EQ(s.erase_errors, 0);

  t.reset();  // a cache of this process: its directory goes away
  EXPECT_FALSE(fs::exists(path + "/emb"));
  EXPECT_TRUE(fs::exists(path));
}

TEST_F(SsdTierTest, CapacityIsEnforcedOnNewKeysOnly) {
  auto t = Open(Options({Dir("a")}, /*width=*/2, /*cap=*/3));
  const std::vector<int64_t> keys = {1, 2, 3, 4};
  const std::vector<float> rows = RowsFor(keys, 2);
  const Status full = t->Put(4, keys.data(), rows.data());
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("capacity 3"), std::string::npos) << full.message();
  EXPECT_EQ(t->size(), 0);
  ASSERT_TRUE(t->Put(3, keys.data(), rows.data()).ok());
  ASSERT_TRUE(t->Put(2, keys.data(), rows.data()).ok());  // overwrites fit
  // Exchange counts erased keys as gone.
  const std::vector<int64_t> out = {1};
  ASSERT_TRUE(t->Exchange(1, keys.data() + 3, rows.data() + 6, 1, out.data()).ok());
  EXPECT_EQ(t->size(), 3);
  EXPECT_EQ(Get(*t, {1, 4}).found, (std::vector<bool>{false, true}));
}

TEST_F(SsdTierTest, NewWritesFallBackToTheNextPathWithFreeSpace) {
  const std::string a = Dir("a"), b = Dir("b");
  auto t = Open(Options({a, b}));
  ASSERT_EQ(t->directories().size(), 2u);
  const std::vector<int64_t> first = {1, 2};
  ASSERT_TRUE(t->Put(2, first.data(), RowsFor(first, 3).data()).ok());
  EXPECT_EQ(t->PathOf(1), 0);

  t->SetMinFreeBytesForTesting(0, std::numeric_limits<int64_t>::max());  // path a "full"
  const std::vector<int64_t> second = {3, 4};
  ASSERT_TRUE(t->Put(2, second.data(), RowsFor(second, 3).data()).ok());
  EXPECT_EQ(t->PathOf(3), 1);
  EXPECT_EQ(t->PathOf(4), 1);
  // An existing key is overwritten where it lives.
  const std::vector<int64_t> one = {1};
  const std::vector<float> row = {5, 5, 5};
  ASSERT_TRUE(t->Put(1, one.data(), row.data()).ok());
  EXPECT_EQ(t->PathOf(1), 0);

  Read r = Get(*t, {1, 2, 3, 4});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.found, (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ(std::vector<float>(r.rows.begin(), r.rows.begin() + 3), row);
  EXPECT_EQ(std::vector<float>(r.rows.begin() + 6, r.rows.end()), RowsFor(second, 3));

  t->SetMinFreeBytesForTesting(1, std::numeric_limits<int64_t>::max());  // every path "full"
  const std::vector<int64_t> third = {9};
  const Status s = t->Put(1, third.data(), row.data());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("'" + a + "'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'" + b + "'"), std::string::npos) << s.message();
  EXPECT_EQ(t->size(), 4);
  EXPECT_TRUE(t->Put(1, one.data(), row.data()).ok());  // overwrites need no new room

  t->SetMinFreeBytesForTesting(0, 0);  // space came back on a
  ASSERT_TRUE(t->Put(1, third.data(), row.data()).ok());
  EXPECT_EQ(t->PathOf(9), 0);
}

TEST_F(SsdTierTest, BadPathsAreInvalidArgumentNamingThePath) {
  std::unique_ptr<SsdTier> t;
  const std::string missing = root_ + "/nope";
  Status s = SsdTier::Open(Options({missing}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "ssd path '" + missing + "' does not exist");

  const std::string file = root_ + "/file";
  std::ofstream(file) << "x";
  s = SsdTier::Open(Options({Dir("ok"), file}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "ssd path '" + file + "' is not a directory");
  EXPECT_EQ(t, nullptr);
  EXPECT_FALSE(fs::exists(root_ + "/ok/emb"));  // the partial open cleaned up

  const std::string ok = Dir("ok");
  s = SsdTier::Open(Options({ok, ok}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("listed twice"), std::string::npos) << s.message();

  // A non-RocksDB directory in the way is never wiped.
  const std::string taken = Dir("taken");
  fs::create_directories(taken + "/emb");
  std::ofstream(taken + "/emb/precious") << "keep";
  s = SsdTier::Open(Options({taken}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(taken + "/emb/precious"));

  // Two tiers of one name on one path: RocksDB's lock refuses the second.
  auto first = Open(Options({ok}));
  s = SsdTier::Open(Options({ok}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cannot open RocksDB"), std::string::npos) << s.message();
  EXPECT_TRUE(fs::exists(ok + "/emb"));  // the first tier's data is untouched

  if (geteuid() != 0) {  // root ignores permission bits
    const std::string ro = Dir("ro");
    ASSERT_EQ(chmod(ro.c_str(), 0500), 0);
    s = SsdTier::Open(Options({ro}), &t);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "ssd path '" + ro + "' is not writable");
    chmod(ro.c_str(), 0700);
  }

  SsdTierOptions bad = Options({ok});
  bad.row_width = 0;
  EXPECT_EQ(SsdTier::Open(bad, &t).code(), StatusCode::kInvalidArgument);
  bad = Options({});
  EXPECT_EQ(SsdTier::Open(bad, &t).code(), StatusCode::kInvalidArgument);
}

TEST_F(SsdTierTest, InjectedWriteFaultsChangeNothing) {
  auto t = Open(Options({Dir("a")}));
  const std::vector<int64_t> keys = {1, 2};
  const std::vector<float> rows = RowsFor(keys, 3);
  ASSERT_TRUE(t->Put(2, keys.data(), rows.data()).ok());
  t->SetWriteFaultForTesting(true);
  const std::vector<int64_t> more = {3};
  const Status s = t->Put(1, more.data(), rows.data());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("fault injected"), std::string::npos) << s.message();
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->stats().writes, 2);
  // Exchange: the put part fails first, so nothing is erased either.
  EXPECT_EQ(t->Exchange(1, more.data(), rows.data(), 1, keys.data()).code(), StatusCode::kInternal);
  Read r = Get(*t, {1, 2, 3});
  ASSERT_TRUE(r.status.ok());  // reads still work
  EXPECT_EQ(r.found, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(std::vector<float>(r.rows.begin(), r.rows.begin() + 6), rows);
  t->SetWriteFaultForTesting(false);
  ASSERT_TRUE(t->Put(1, more.data(), rows.data()).ok());
  EXPECT_EQ(Get(*t, {3}).found, std::vector<bool>{true});
  // A failed delete still forgets the key (its bytes become garbage).
  t->SetWriteFaultForTesting(true);
  EXPECT_EQ(t->Erase(1, more.data()).code(), StatusCode::kInternal);
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->stats().erase_errors, 1);
  t->SetWriteFaultForTesting(false);
  EXPECT_EQ(Get(*t, {3}).found, std::vector<bool>{false});
}

TEST_F(SsdTierTest, NamesAreSanitised) {
  SsdTierOptions o = Options({Dir("a")});
  o.name = "scope/emb:0";
  auto t = Open(o);
  EXPECT_EQ(t->directories()[0], root_ + "/a/scope_emb_0");
}

}  // namespace
}  // namespace asc
