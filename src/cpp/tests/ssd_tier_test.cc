// SsdTier: RocksDB-backed row store of the SSD tier.
#include "asc/ssd_tier.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tiering_test_util.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

constexpr char kPrefix[] = "mx_rec_ssd.";

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

// The death tests run each scenario in a child process (a fresh one: the
// threadsafe style re-executes the binary, so no RocksDB thread of an
// earlier test is inherited), because the failure they guard against is an
// abort that would otherwise take the whole suite down. gtest runs
// *DeathTest suites first.
using SsdTierDeathTest = SsdTierTest;

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

// Names of the entries of `dir` (not recursive).
std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
  return out;
}

// Whether `dir` is <path>/mx_rec_ssd.<name>.XXXXXX.
bool IsTierDirectory(const std::string& dir, const std::string& path, const std::string& name) {
  const fs::path d(dir);
  const std::string leaf = d.filename().string();
  const std::string stem = kPrefix + name + ".";
  return d.parent_path() == fs::path(path) && leaf.size() == stem.size() + 6 &&
         leaf.compare(0, stem.size(), stem) == 0;
}

// Reports a failed check from a death-test child and ends it with exit code
// 1; the parent shows this text when the exit code does not match.
[[noreturn]] void ChildFails(const std::string& what) {
  std::fprintf(stderr, "child check failed: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(1);
}

// Death-test child end: "" -> exit 0 after printing "child scenario
// passed" (what the parent's EXPECT_EXIT matches), else ChildFails.
[[noreturn]] void ExitWith(const std::string& failed) {
  if (!failed.empty()) ChildFails(failed);
  std::fprintf(stderr, "child scenario passed\n");
  std::fflush(stderr);
  _exit(0);
}

// Enters a private mount namespace and mounts a tmpfs of `size` at `dir`:
// the mount is invisible outside this process and vanishes with it, even if
// it aborts. "" on success, else why not (errno text).
std::string MountPrivateTmpfs(const std::string& dir, const std::string& size, bool read_only) {
  if (unshare(CLONE_NEWNS) != 0) {
    return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  }
  // Without this, a shared "/" would propagate the tmpfs to the parent's view.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  const std::string opts = "size=" + size;
  if (mount("tmpfs", dir.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, opts.c_str()) != 0) {
    return std::string("mount -t tmpfs: ") + std::strerror(errno);
  }
  return "";
}

// Whether this process may do what MountPrivateTmpfs does, tried in a
// forked child (only syscalls after fork, so safe even with threads), so
// the test process itself never changes namespace or mounts anything.
bool CanMountPrivateTmpfs(const std::string& dir, std::string* why) {
  const pid_t pid = fork();
  if (pid < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(2);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(3);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) _exit(4);
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why = "cannot mount a tmpfs in a private mount namespace (needs CAP_SYS_ADMIN; probe exit " +
           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
    return false;
  }
  return true;
}

// What a child checks on the tmpfs at `path`: "" or what went wrong.
using Scenario = std::function<std::string(const std::string& path)>;

// Death-test child body: runs `scenario` on a private tmpfs of `size`
// mounted at `mnt` (`root` is the child's own scratch directory, removed
// before exiting, since the child never reaches TearDown), then exits with
// its verdict (ExitWith).
[[noreturn]] void RunOnPrivateTmpfs(const std::string& root, const std::string& mnt,
                                    const std::string& size, bool read_only,
                                    const Scenario& scenario) {
  const std::string mounted = MountPrivateTmpfs(mnt, size, read_only);
  if (!mounted.empty()) ChildFails("cannot set up the tmpfs: " + mounted);
  const std::string failed = scenario(mnt);
  umount2(mnt.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(root, ec);
  ExitWith(failed);
}

// Puts batches of `batch` new keys (from *next on) until a Put fails or
// `max_batches` went through; returns the failure (OK if none).
Status PutUntilFailure(SsdTier* t, int64_t batch, int max_batches, int64_t* next) {
  std::vector<int64_t> keys(static_cast<size_t>(batch));
  for (int b = 0; b < max_batches; ++b) {
    for (int64_t& k : keys) k = (*next)++;
    const Status s = t->Put(batch, keys.data(), RowsFor(keys, t->row_width()).data());
    if (!s.ok()) {
      *next -= batch;
      return s;
    }
  }
  return Status::OK();
}

bool Names(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST_F(SsdTierTest, PutGetEraseRoundTrip) {
  const std::string path = Dir("a");
  auto t = Open(Options({path}));
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->directories().size(), 1u);
  const std::string dir = t->directories()[0];
  EXPECT_TRUE(IsTierDirectory(dir, path, "emb")) << dir;
  EXPECT_TRUE(fs::is_directory(dir));
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
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(path));
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
  EXPECT_TRUE(IsTierDirectory(t->directories()[0], a, "emb")) << t->directories()[0];
  EXPECT_TRUE(IsTierDirectory(t->directories()[1], b, "emb")) << t->directories()[1];
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
  const std::string ok = Dir("ok");
  s = SsdTier::Open(Options({ok, file}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "ssd path '" + file + "' is not a directory");
  EXPECT_EQ(t, nullptr);
  EXPECT_TRUE(fs::is_empty(ok));  // a failed open leaves nothing behind

  s = SsdTier::Open(Options({ok, ok}), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("listed twice"), std::string::npos) << s.message();
  s = SsdTier::Open(Options({ok, root_ + "/./ok/"}), &t);  // the same directory spelt otherwise
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("listed twice"), std::string::npos) << s.message();
  EXPECT_TRUE(fs::is_empty(ok));

  if (geteuid() != 0) {  // root ignores permission bits (see ReadOnlyFileSystemIsNotWritable)
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

// Root passes access(W_OK) whatever the mode bits say, but not on a
// read-only file system: mount one (privately) to check the message there.
TEST_F(SsdTierDeathTest, ReadOnlyFileSystemIsNotWritable) {
  const std::string mnt = Dir("ro");
  std::string why;
  if (!CanMountPrivateTmpfs(mnt, &why)) GTEST_SKIP() << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(RunOnPrivateTmpfs(root_, mnt, "1m", /*read_only=*/true,
                                [&](const std::string& path) -> std::string {
                                  std::unique_ptr<SsdTier> t;
                                  const Status s = SsdTier::Open(Options({path}), &t);
                                  if (s.code() != StatusCode::kInvalidArgument ||
                                      s.message() != "ssd path '" + path + "' is not writable") {
                                    return "Open on a read-only path: " + s.message();
                                  }
                                  return "";
                                }),
              ::testing::ExitedWithCode(0), "child scenario passed");
}

// Two tables "a/b" and "a_b", two sessions opening the same table: each tier
// gets a directory of its own and sees only its own rows.
TEST_F(SsdTierTest, TiersOfTheSameOrAlikeNamesShareAPath) {
  const std::string path = Dir("a");
  std::vector<std::unique_ptr<SsdTier>> tiers;
  for (const std::string name : {"a/b", "a_b", "a_b", "a:b"}) {
    SsdTierOptions o = Options({path});
    o.name = name;
    tiers.push_back(Open(o));
    ASSERT_NE(tiers.back(), nullptr) << name;
    EXPECT_TRUE(IsTierDirectory(tiers.back()->directories()[0], path, "a_b"))
        << tiers.back()->directories()[0];
  }
  std::set<std::string> dirs;
  for (const auto& t : tiers) dirs.insert(t->directories()[0]);
  EXPECT_EQ(dirs.size(), tiers.size());
  EXPECT_EQ(Entries(path).size(), tiers.size());

  // The same key in every tier, with a different row in each.
  const std::vector<int64_t> key = {7};
  for (size_t i = 0; i < tiers.size(); ++i) {
    ASSERT_TRUE(tiers[i]->Put(1, key.data(), RowsFor(key, 3, static_cast<float>(i)).data()).ok());
  }
  for (size_t i = 0; i < tiers.size(); ++i) {
    EXPECT_EQ(Get(*tiers[i], {7}).rows, RowsFor(key, 3, static_cast<float>(i))) << i;
  }

  // Destroying one removes its directory only; the others keep working.
  const std::string first = tiers[1]->directories()[0];
  tiers[1].reset();
  EXPECT_FALSE(fs::exists(first));
  EXPECT_EQ(Entries(path).size(), tiers.size() - 1);
  for (size_t i : {0, 2, 3}) {
    EXPECT_TRUE(fs::is_directory(tiers[i]->directories()[0]));
    const std::vector<int64_t> more = {8};
    EXPECT_TRUE(tiers[i]->Put(1, more.data(), RowsFor(more, 3).data()).ok()) << i;
    EXPECT_EQ(Get(*tiers[i], {7}).rows, RowsFor(key, 3, static_cast<float>(i))) << i;
  }
  tiers.clear();
  EXPECT_TRUE(fs::is_empty(path));
}

// Directories that exist before Open, whatever their name, are the user's:
// a tier never opens, writes into or removes them.
TEST_F(SsdTierTest, ExistingDirectoriesAreNeitherUsedNorRemoved) {
  const std::string path = Dir("a");
  fs::create_directories(path + "/emb");                    // empty, named like the table
  fs::create_directories(path + "/scope_emb");              // looks like a RocksDB directory
  std::ofstream(path + "/scope_emb/CURRENT") << "MANIFEST-000001\n";
  std::ofstream(path + "/scope_emb/precious") << "keep";
  fs::create_directories(path + "/" + kPrefix + "emb.AAAAAA");  // an earlier tier's leftover
  std::ofstream(path + "/" + kPrefix + "emb.AAAAAA/precious") << "keep";
  const std::set<std::string> before = Entries(path);

  for (const std::string name : {"emb", "scope/emb"}) {
    SsdTierOptions o = Options({path});
    o.name = name;
    auto t = Open(o);
    ASSERT_NE(t, nullptr) << name;
    const std::string dir = t->directories()[0];
    EXPECT_EQ(before.count(fs::path(dir).filename().string()), 0u) << dir;
    const std::vector<int64_t> keys = {1, 2};
    ASSERT_TRUE(t->Put(2, keys.data(), RowsFor(keys, 3).data()).ok());
    EXPECT_TRUE(fs::is_empty(path + "/emb"));  // no LOCK, LOG, ... of RocksDB in there
    EXPECT_EQ(Entries(path + "/scope_emb"), (std::set<std::string>{"CURRENT", "precious"}));
    t.reset();
    EXPECT_EQ(Entries(path), before) << name;
  }
  EXPECT_TRUE(fs::is_empty(path + "/emb"));
  EXPECT_EQ(Entries(path + "/scope_emb"), (std::set<std::string>{"CURRENT", "precious"}));
  EXPECT_EQ(Entries(path + "/" + kPrefix + "emb.AAAAAA"), std::set<std::string>{"precious"});
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
  // Destroyed right after failed writes: nothing to flush, directory gone.
  t->SetWriteFaultForTesting(true);
  EXPECT_EQ(t->Put(1, more.data(), rows.data()).code(), StatusCode::kInternal);
  const std::string dir = t->directories()[0];
  t.reset();
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(SsdTierTest, NamesAreSanitised) {
  const std::string path = Dir("a");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"scope/emb:0", "scope_emb_0"},
      {"", "table"},
      {"..", ".."},
      {std::string(1000, 'x'), std::string(128, 'x')},  // cut: the name stays legal
  };
  for (const auto& c : cases) {
    SsdTierOptions o = Options({path});
    o.name = c.first;
    auto t = Open(o);
    ASSERT_NE(t, nullptr) << c.first;
    EXPECT_TRUE(IsTierDirectory(t->directories()[0], path, c.second)) << t->directories()[0];
  }
  EXPECT_TRUE(fs::is_empty(path));
}

// The tier's directory removed from under it: writes say so (naming it)
// instead of reporting a full disk or pretending to work, and destruction
// is safe.
TEST_F(SsdTierTest, RemovedDirectoryFailsWritesSayingSo) {
  const std::string path = Dir("a");
  auto t = Open(Options({path}));
  ASSERT_NE(t, nullptr);
  const std::string dir = t->directories()[0];
  const std::vector<int64_t> held = {1, 2};
  ASSERT_TRUE(t->Put(2, held.data(), RowsFor(held, 3).data()).ok());
  fs::remove_all(dir);

  auto expect_gone = [&](const Status& s, const std::string& what) {
    EXPECT_EQ(s.code(), StatusCode::kInternal) << what << ": " << s.message();
    EXPECT_TRUE(Names(s, "'" + dir + "' no longer exists")) << what << ": " << s.message();
  };
  const std::vector<int64_t> fresh = {3};
  expect_gone(t->Put(1, fresh.data(), RowsFor(fresh, 3).data()), "new key");
  expect_gone(t->Put(1, held.data(), RowsFor(held, 3, 1.0f).data()), "overwrite");
  expect_gone(t->Exchange(1, fresh.data(), RowsFor(fresh, 3).data(), 1, held.data()), "exchange");
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->PathOf(3), -1);
  EXPECT_EQ(t->stats().writes, 2);
  // Erase forgets the keys regardless and reports the failed delete.
  expect_gone(t->Erase(1, held.data() + 1), "erase");
  EXPECT_EQ(t->size(), 1);
  EXPECT_EQ(t->stats().erase_errors, 1);

  // Something else now under the same name is not the tier's either: not
  // written to, and not removed by the destructor.
  fs::create_directories(dir);
  std::ofstream(dir + "/precious") << "keep";
  expect_gone(t->Put(1, fresh.data(), RowsFor(fresh, 3).data()), "replaced directory");
  t.reset();
  EXPECT_EQ(Entries(dir), std::set<std::string>{"precious"});
}

// The configured path removed: the same for the writes that need it, while
// another path of the tier keeps working.
TEST_F(SsdTierTest, RemovedPathFailsWritesSayingSo) {
  const std::string a = Dir("a"), b = Dir("b");
  auto t = Open(Options({a, b}));
  ASSERT_NE(t, nullptr);
  const std::string dir_b = t->directories()[1];
  t->SetMinFreeBytesForTesting(0, std::numeric_limits<int64_t>::max());  // new keys go to b
  const std::vector<int64_t> on_b = {1};
  ASSERT_TRUE(t->Put(1, on_b.data(), RowsFor(on_b, 3).data()).ok());
  ASSERT_EQ(t->PathOf(1), 1);
  fs::remove_all(b);

  const std::vector<int64_t> fresh = {2};
  Status s = t->Put(1, fresh.data(), RowsFor(fresh, 3).data());
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.message();
  EXPECT_TRUE(Names(s, "'" + dir_b + "' no longer exists")) << s.message();
  EXPECT_TRUE(Names(s, "'" + b + "'")) << s.message();
  EXPECT_FALSE(Names(s, "bytes free")) << s.message();
  s = t->Put(1, on_b.data(), RowsFor(on_b, 3, 1.0f).data());
  EXPECT_TRUE(Names(s, "'" + dir_b + "' no longer exists")) << s.message();

  t->SetMinFreeBytesForTesting(0, 0);  // new keys go to a again
  ASSERT_TRUE(t->Put(1, fresh.data(), RowsFor(fresh, 3).data()).ok());
  EXPECT_EQ(t->PathOf(2), 0);
  EXPECT_EQ(Get(*t, {2}).rows, RowsFor(fresh, 3));
  const std::string dir_a = t->directories()[0];
  t.reset();
  EXPECT_FALSE(fs::exists(dir_a));
  EXPECT_FALSE(fs::exists(b));
}

// A 4 MiB file system fills up under RocksDB's first flush: the failing
// Put is ResourceExhausted naming the directory, later writes fail the same
// way, rows already taken stay readable, and destruction neither aborts nor
// leaves the directory behind.
TEST_F(SsdTierDeathTest, FileSystemFillingUpDuringWrites) {
  const std::string mnt = Dir("mnt");
  std::string why;
  if (!CanMountPrivateTmpfs(mnt, &why)) GTEST_SKIP() << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      RunOnPrivateTmpfs(
          root_, mnt, "4m", /*read_only=*/false,
          [&](const std::string& path) -> std::string {
            auto t = Open(Options({path}, /*width=*/32, /*cap=*/int64_t{1} << 30));
            if (t == nullptr) return "Open failed";
            const std::string dir = t->directories()[0];
            int64_t next = 0;
            // 64 MiB memtable / 128-byte rows: the first flush comes
            // within ~600 batches; 2000 bounds the loop.
            Status s = PutUntilFailure(t.get(), 1000, 2000, &next);
            if (s.code() != StatusCode::kResourceExhausted || !Names(s, "'" + dir + "'") ||
                !Names(s, "No space left")) {
              return "first failing Put: code " + std::to_string(static_cast<int>(s.code())) +
                     ": " + s.message();
            }
            if (t->size() != next) return "size changed by the failed Put";
            const std::vector<int64_t> fresh = {next};
            s = t->Put(1, fresh.data(), RowsFor(fresh, 32).data());
            if (s.ok() || !Names(s, "'" + dir + "'")) return "later Put: " + s.message();
            const std::vector<int64_t> old = {0, next - 1};
            s = t->Put(2, old.data(), RowsFor(old, 32, 1.0f).data());
            if (s.ok() || !Names(s, "'" + dir + "'")) return "overwrite: " + s.message();
            s = t->Erase(1, old.data());
            if (s.ok() || t->size() != next - 1) return "erase: " + s.message();
            const Read r = Get(*t, {1, next - 1});
            if (!r.status.ok()) return "read after the disk filled: " + r.status.message();
            if (r.found != std::vector<bool>{true, true}) return "rows lost";
            std::vector<float> want = RowsFor({1, next - 1}, 32);
            if (r.rows != want) return "rows changed";
            t.reset();
            if (fs::exists(dir)) return "directory left behind";
            return "";
          }),
      ::testing::ExitedWithCode(0), "child scenario passed");
}

// Rows that RocksDB still buffers in memory when the file system fills up
// (here: another file takes the rest) must not make destruction abort; with
// RocksDB's default LOG file and flush at close it did (SIGABRT in
// WritableFileWriter after the LOG append failed).
TEST_F(SsdTierDeathTest, FileSystemFullUnderBufferedRowsAtDestruction) {
  const std::string mnt = Dir("mnt");
  std::string why;
  if (!CanMountPrivateTmpfs(mnt, &why)) GTEST_SKIP() << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      RunOnPrivateTmpfs(
          root_, mnt, "4m", /*read_only=*/false,
          [&](const std::string& path) -> std::string {
            auto t = Open(Options({path}, /*width=*/32, /*cap=*/int64_t{1} << 30));
            if (t == nullptr) return "Open failed";
            const std::string dir = t->directories()[0];
            int64_t next = 0;
            Status s = PutUntilFailure(t.get(), 1000, 3, &next);
            if (!s.ok()) return "Put before the disk filled: " + s.message();
            const std::string filler = path + "/filler";
            const int fd = open(filler.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
            if (fd < 0) return "cannot create the filler";
            const std::vector<char> block(1 << 16, 'x');
            while (write(fd, block.data(), block.size()) > 0) {
            }
            const int err = errno;
            close(fd);
            if (err != ENOSPC) return std::string("filler stopped with ") + std::strerror(err);
            s = PutUntilFailure(t.get(), 1000, 1, &next);  // fits in the memtable
            if (!s.ok() && !Names(s, "'" + dir + "'")) return "Put on a full disk: " + s.message();
            t.reset();
            if (fs::exists(dir)) return "directory left behind";
            if (!fs::exists(filler)) return "filler removed";
            return "";
          }),
      ::testing::ExitedWithCode(0), "child scenario passed");
}

// Needs no privilege, so it always runs: RLIMIT_FSIZE makes the kernel fail
// every write past 4 KiB of any file (EFBIG), the same situation for
// RocksDB as a full disk (a failed append in the middle of a flush) except
// for the errno. Writes must fail with a Status naming the directory and
// destruction must not abort (it did: RocksDB asserted when appending to
// its LOG after a failed append).
std::string FailingFileWrites(SsdTier* t) {
  const std::string dir = t->directories()[0];
  signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  struct rlimit limit;
  limit.rlim_cur = limit.rlim_max = 4096;
  if (setrlimit(RLIMIT_FSIZE, &limit) != 0) return "setrlimit failed";
  int64_t next = 0;
  Status s = PutUntilFailure(t, 1000, 2000, &next);
  if (s.ok() || !Names(s, "'" + dir + "'") ||
      (s.code() != StatusCode::kInternal && s.code() != StatusCode::kResourceExhausted)) {
    return "first failing Put: " + s.message();
  }
  const std::vector<int64_t> fresh = {next};
  s = t->Put(1, fresh.data(), RowsFor(fresh, 32).data());
  if (s.ok() || !Names(s, "'" + dir + "'")) return "later Put: " + s.message();
  const Read r = Get(*t, {0, next - 1});
  if (!r.status.ok() || r.rows != RowsFor({0, next - 1}, 32)) {
    return "read after write errors: " + r.status.message();
  }
  return "";
}

TEST_F(SsdTierDeathTest, FailingFileWritesNeverAbort) {
  const std::string path = Dir("a");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      ExitWith([&]() -> std::string {
        auto t = Open(Options({path}, /*width=*/32, /*cap=*/int64_t{1} << 30));
        if (t == nullptr) return "Open failed";
        const std::string dir = t->directories()[0];
        const std::string failed = FailingFileWrites(t.get());
        if (!failed.empty()) return failed;
        t.reset();
        if (fs::exists(dir)) return "directory left behind";
        fs::remove_all(root_);  // the child never reaches TearDown
        return "";
      }()),
      ::testing::ExitedWithCode(0), "child scenario passed");
}

}  // namespace
}  // namespace asc
