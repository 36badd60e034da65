#include "asc/ssd_tier.h"

#include <dirent.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "asc/key_map.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

constexpr size_t kKeyBytes = sizeof(int64_t);
// Every directory a tier creates is <path>/<kDirPrefix><name>.XXXXXX, so a
// human (or a cleanup script after a crash) can tell whose it is.
constexpr char kDirPrefix[] = "mx_rec_ssd.";
// Keeps <prefix><name>.XXXXXX well under NAME_MAX (255) for any table name.
constexpr size_t kMaxNameChars = 128;
// Deepest nesting the destructor descends into when removing its directory
// (RocksDB creates none; this only bounds the work on a tampered tree).
constexpr int kMaxRemoveDepth = 8;

// Keys are stored as their 8 native bytes: the tier never iterates in key
// order, so the byte order does not matter, only that it is fixed.
rocksdb::Slice KeySlice(const int64_t& key) {
  return rocksdb::Slice(reinterpret_cast<const char*>(&key), kKeyBytes);
}

std::string SanitizeName(const std::string& name) {
  std::string out = name.substr(0, kMaxNameChars);
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) c = '_';
  }
  if (out.empty()) out = "table";
  return out;
}

std::string JoinPaths(const std::vector<std::string>& paths) {
  std::string out;
  for (const std::string& p : paths) {
    if (!out.empty()) out += ", ";
    out += "'" + p + "'";
  }
  return out;
}

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// RocksDB writes its info log to <db>/LOG unless given a logger. That file
// is worse than useless here: every error the tier sees already reaches the
// caller as a Status, and RocksDB 7.8 asserts (SIGABRT) when it appends to
// its LOG after an earlier append failed, which is exactly what happens
// when the file system fills up. So the tier gives RocksDB a logger that
// drops everything.
class DiscardLogger final : public rocksdb::Logger {
 public:
  DiscardLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
  void Logv(const rocksdb::InfoLogLevel /*level*/, const char* /*format*/,
            va_list /*ap*/) override {}
  void LogHeader(const char* /*format*/, va_list /*ap*/) override {}

 protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }
};

// Removes every entry of the directory open as `fd` (taking ownership of
// fd) without following symbolic links: a link is unlinked, never
// descended into. Works on the descriptor, so it stays inside the directory
// it was given even if paths change meanwhile. noexcept by construction (no
// allocation beyond libc's DIR): it runs in the destructor.
void RemoveContents(int fd, int depth) noexcept {
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return;
  }
  // Entries removed during readdir may make it skip others: rescan until a
  // pass finds nothing left to remove (or removes nothing, e.g. EACCES).
  for (bool removed = true; removed;) {
    removed = false;
    rewinddir(d);
    while (const dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
        removed = true;
        continue;
      }
      if (errno != EISDIR || depth >= kMaxRemoveDepth) continue;
      const int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) RemoveContents(sub, depth + 1);
      if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0) removed = true;
    }
  }
  closedir(d);  // closes fd
}

}  // namespace

struct SsdTier::Impl {
  // A directory this tier created, held open for its lifetime: while the
  // descriptor is open the inode cannot be freed and reused, so (dev, ino)
  // identifies our directory even after it was removed and something else
  // was created under the same name.
  struct OwnedDir {
    int fd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
  };

  SsdTierOptions options;
  int64_t row_bytes = 0;
  std::vector<std::string> dirs;                  // created by Open, one per path
  std::vector<OwnedDir> owned;                    // parallel to dirs
  std::vector<std::unique_ptr<rocksdb::DB>> dbs;  // parallel to dirs; null until opened
  std::vector<int64_t> min_free;                  // per path
  KeySlotMap index;                               // key -> path index
  bool fail_writes = false;
  rocksdb::WriteOptions write_options;
  // Get may run concurrently with Gets (Table::FindRows under a shared lock).
  mutable std::atomic<int64_t> reads{0};
  mutable std::atomic<int64_t> bytes_read{0};
  int64_t writes = 0;
  int64_t bytes_written = 0;
  int64_t erase_errors = 0;

  // Closes the databases, then removes exactly the directories Open created:
  // a directory is only removed while its name still leads to the inode we
  // hold open. Never throws or aborts: every failure here is ignored, since
  // a destructor has nobody to report to and the data is a cache anyway.
  ~Impl() {
    for (size_t p = 0; p < dbs.size(); ++p) {
      if (dbs[p] == nullptr) continue;
      // avoid_flush_during_shutdown: Close writes nothing, so a full or
      // deleted directory cannot fail it halfway.
      dbs[p]->Close().PermitUncheckedError();
      dbs[p].reset();
    }
    for (size_t p = 0; p < owned.size(); ++p) {
      if (IsOurs(p)) {
        const int fd = dup(owned[p].fd);
        if (fd >= 0) RemoveContents(fd, 0);
        // Checked again right before rmdir, which only removes an empty
        // directory anyway.
        if (IsOurs(p)) rmdir(dirs[p].c_str());
      }
      close(owned[p].fd);
    }
  }

  // Whether dirs[p] still names the directory Open created for path p.
  bool IsOurs(size_t p) const noexcept {
    struct stat now;
    return lstat(dirs[p].c_str(), &now) == 0 && S_ISDIR(now.st_mode) &&
           now.st_dev == owned[p].dev && now.st_ino == owned[p].ino;
  }

  // OK while path p's directory is the one this tier created. RocksDB only
  // knows the directory by name: once it was removed (or the configured
  // path was), a write would seem to work until a flush fails, and free-space
  // checks would see a missing file system; say what happened instead.
  Status CheckDirectory(size_t p) const {
    struct stat now;
    if (lstat(dirs[p].c_str(), &now) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        return Status::Internal("SSD tier '" + options.name + "': directory '" + dirs[p] +
                                "' no longer exists (it or ssd path '" + options.paths[p] +
                                "' was removed while the tier was using it)");
      }
      return Status::Internal("SSD tier '" + options.name + "': cannot check directory '" +
                              dirs[p] + "': " + ErrnoText(err));
    }
    if (!S_ISDIR(now.st_mode) || now.st_dev != owned[p].dev || now.st_ino != owned[p].ino) {
      return Status::Internal("SSD tier '" + options.name + "': directory '" + dirs[p] +
                              "' no longer exists (it was removed or replaced while the tier was "
                              "using it; the tier never writes into a directory it did not "
                              "create)");
    }
    return Status::OK();
  }

  // Bytes available to us on path p's file system. The directory is checked
  // first (see CheckDirectory), so a failure here is a real I/O problem.
  Status AvailableBytes(size_t p, int64_t* out) const {
    ASC_RETURN_IF_ERROR(CheckDirectory(p));
    struct statvfs st;
    if (fstatvfs(owned[p].fd, &st) != 0) {
      return Status::Internal("SSD tier '" + options.name + "': cannot query free space of '" +
                              dirs[p] + "': " + ErrnoText(errno));
    }
    *out = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
    return Status::OK();
  }

  // A failed RocksDB write to path p. A full file system is the caller's
  // to fix (free space, add paths), so it is ResourceExhausted; anything
  // else is Internal. Both name the directory and carry RocksDB's message.
  Status WriteError(size_t p, const rocksdb::Status& s, const char* what) const {
    const std::string message =
        "SSD tier " + std::string(what) + " '" + dirs[p] + "' failed: " + s.ToString();
    if (s.IsNoSpace()) {
      return Status::ResourceExhausted(message + " (the file system is full; free disk space or "
                                                 "add ssd paths)");
    }
    return Status::Internal(message);
  }

  Status WriteFault() const {
    return Status::Internal("SSD tier write to " + JoinPaths(dirs) +
                            " failed: write fault injected for testing");
  }

  // Writes put keys/rows; all-or-nothing for the index. Capacity is checked
  // by the caller.
  Status PutPart(int64_t n, const int64_t* keys, const float* rows) {
    if (n == 0) return Status::OK();
    if (fail_writes) return WriteFault();
    std::vector<int64_t> where(static_cast<size_t>(n));
    index.FindBatch(n, keys, where.data());
    int64_t fresh = 0;
    for (int64_t i = 0; i < n; ++i) fresh += where[i] == KeySlotMap::kNoSlot;
    int64_t target = -1;
    if (fresh > 0) {
      std::string report;
      for (size_t p = 0; p < dirs.size(); ++p) {
        int64_t avail = 0;
        ASC_RETURN_IF_ERROR(AvailableBytes(p, &avail));
        if (avail >= min_free[p]) {
          target = static_cast<int64_t>(p);
          break;
        }
        if (!report.empty()) report += ", ";
        report += "'" + options.paths[p] + "' has " + std::to_string(avail) + " bytes free < " +
                  std::to_string(min_free[p]);
      }
      if (target < 0) {
        return Status::ResourceExhausted("SSD tier '" + options.name +
                                         "': no path has room for new rows (" + report +
                                         "); free disk space or add ssd paths");
      }
    }
    std::vector<rocksdb::WriteBatch> batches(dirs.size());
    for (int64_t i = 0; i < n; ++i) {
      if (where[i] == KeySlotMap::kNoSlot) where[i] = target;
      const size_t p = static_cast<size_t>(where[i]);
      const rocksdb::Status s = batches[p].Put(
          KeySlice(keys[i]),
          rocksdb::Slice(reinterpret_cast<const char*>(rows + i * options.row_width),
                         static_cast<size_t>(row_bytes)));
      if (!s.ok()) return WriteError(p, s, "write to");
    }
    // Every directory written to must still be ours before anything is
    // written, so a vanished directory fails the whole put up front.
    for (size_t p = 0; p < dirs.size(); ++p) {
      if (batches[p].Count() > 0) ASC_RETURN_IF_ERROR(CheckDirectory(p));
    }
    for (size_t p = 0; p < dirs.size(); ++p) {
      if (batches[p].Count() == 0) continue;
      const rocksdb::Status s = dbs[p]->Write(write_options, &batches[p]);
      if (!s.ok()) return WriteError(p, s, "write to");
    }
    index.InsertOrAssignBatch(n, keys, where.data());
    writes += n;
    bytes_written += n * row_bytes;
    return Status::OK();
  }

  // Forgets keys, then deletes their bytes; see the header's error model.
  Status ErasePart(int64_t n, const int64_t* keys) {
    if (n == 0) return Status::OK();
    std::vector<int64_t> where(static_cast<size_t>(n));
    const int64_t removed = index.EraseBatch(n, keys, where.data());
    if (removed == 0) return Status::OK();
    if (fail_writes) {
      ++erase_errors;
      return WriteFault();
    }
    std::vector<rocksdb::WriteBatch> batches(dirs.size());
    for (int64_t i = 0; i < n; ++i) {
      if (where[i] == KeySlotMap::kNoSlot) continue;
      batches[static_cast<size_t>(where[i])].Delete(KeySlice(keys[i])).PermitUncheckedError();
    }
    Status result;
    for (size_t p = 0; p < dirs.size(); ++p) {
      if (batches[p].Count() == 0) continue;
      Status st = CheckDirectory(p);
      if (st.ok()) {
        const rocksdb::Status s = dbs[p]->Write(write_options, &batches[p]);
        // Internal even on a full disk: the keys are gone either way, only
        // garbage is left (the header's error model).
        if (!s.ok()) {
          st = Status::Internal("SSD tier delete in '" + dirs[p] + "' failed: " + s.ToString());
        }
      }
      if (!st.ok() && result.ok()) result = std::move(st);
    }
    if (!result.ok()) ++erase_errors;
    return result;
  }

  int64_t CountHeld(int64_t n, const int64_t* keys) const {
    std::vector<int64_t> where(static_cast<size_t>(n));
    index.FindBatch(n, keys, where.data());
    int64_t held = 0;
    for (int64_t w : where) held += w != KeySlotMap::kNoSlot;
    return held;
  }
};

SsdTier::SsdTier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SsdTier::~SsdTier() = default;

Status SsdTier::Open(const SsdTierOptions& options, std::unique_ptr<SsdTier>* out) {
  if (options.paths.empty()) return Status::InvalidArgument("SSD tier needs at least one path");
  if (options.row_width < 1) {
    return Status::InvalidArgument("SSD tier row_width must be >= 1, got " +
                                   std::to_string(options.row_width));
  }
  if (options.capacity < 1) {
    return Status::InvalidArgument("SSD tier capacity must be >= 1, got " +
                                   std::to_string(options.capacity));
  }
  if (options.min_free_bytes < 0) {
    return Status::InvalidArgument("SSD tier min_free_bytes must be >= 0, got " +
                                   std::to_string(options.min_free_bytes));
  }
  // Every path is checked before anything is created, so bad options leave
  // no trace on disk.
  for (size_t i = 0; i < options.paths.size(); ++i) {
    const std::string& path = options.paths[i];
    struct stat st;
    if (path.empty() || stat(path.c_str(), &st) != 0) {
      return Status::InvalidArgument("ssd path '" + path + "' does not exist");
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("ssd path '" + path + "' is not a directory");
    }
    if (access(path.c_str(), W_OK | X_OK) != 0) {
      return Status::InvalidArgument("ssd path '" + path + "' is not writable");
    }
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (fs::equivalent(fs::path(options.paths[j]), fs::path(path), ec)) {
        return Status::InvalidArgument("ssd path '" + path + "' is listed twice");
      }
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->row_bytes = options.row_width * static_cast<int64_t>(sizeof(float));
  impl->write_options.disableWAL = true;
  impl->min_free.assign(options.paths.size(), options.min_free_bytes);
  const std::string leaf = kDirPrefix + SanitizeName(options.name) + ".XXXXXX";

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  // The directory was created empty a moment ago; anything else is not ours.
  db_options.error_if_exists = true;
  db_options.info_log = std::make_shared<DiscardLogger>();
  // The tier is a cache of this process, deleted right after Close: a flush
  // at shutdown would only write data about to be removed, and on a full or
  // deleted directory it would fail halfway through the destructor.
  db_options.avoid_flush_during_shutdown = true;
  // Point reads and writes only: hash the whole 8-byte key into the memtable
  // instead of keeping it ordered (perf showed the default skiplist's search
  // dominating the tier's CPU time).
  db_options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kKeyBytes));
  db_options.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory());
  db_options.allow_concurrent_memtable_write = false;
  for (const std::string& path : options.paths) {
    // mkdtemp picks a name nobody holds and creates it atomically (mode
    // 0700): two tiers of one name, or of names that sanitise alike, on one
    // path get distinct directories, and no existing directory is ever
    // opened, written into or wiped.
    std::string dir = (fs::path(path) / leaf).string();
    if (mkdtemp(dir.data()) == nullptr) {
      const int err = errno;
      const std::string message =
          "ssd path '" + path + "': cannot create a directory in it: " + ErrnoText(err);
      return err == ENOSPC ? Status::ResourceExhausted(message) : Status::InvalidArgument(message);
    }
    Impl::OwnedDir owned;
    owned.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (owned.fd < 0 || fstat(owned.fd, &st) != 0) {
      const int err = errno;
      if (owned.fd >= 0) close(owned.fd);
      rmdir(dir.c_str());
      return Status::InvalidArgument("ssd path '" + path + "': cannot open directory '" + dir +
                                     "' just created: " + ErrnoText(err));
    }
    owned.dev = st.st_dev;
    owned.ino = st.st_ino;
    // Owned from here on: the destructor removes it if anything below fails.
    impl->dirs.push_back(dir);
    impl->owned.push_back(owned);
    impl->dbs.emplace_back();
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(db_options, dir, &raw);
    if (!s.ok()) {
      const std::string message =
          "ssd path '" + path + "': cannot open RocksDB in '" + dir + "': " + s.ToString();
      // A full file system is no fault of the options.
      return s.IsNoSpace() ? Status::ResourceExhausted(message) : Status::InvalidArgument(message);
    }
    impl->dbs.back().reset(raw);
  }
  out->reset(new SsdTier(std::move(impl)));
  return Status::OK();
}

int64_t SsdTier::row_width() const { return impl_->options.row_width; }

Status SsdTier::SetRowWidth(int64_t row_width) {
  if (row_width < 1) {
    return Status::InvalidArgument("SSD tier row_width must be >= 1, got " +
                                   std::to_string(row_width));
  }
  if (size() > 0) {
    return Status::FailedPrecondition("SSD tier '" + impl_->options.name + "' holds " +
                                      std::to_string(size()) +
                                      " rows; its row width cannot change");
  }
  impl_->options.row_width = row_width;
  impl_->row_bytes = row_width * static_cast<int64_t>(sizeof(float));
  return Status::OK();
}
int64_t SsdTier::capacity() const { return impl_->options.capacity; }
int64_t SsdTier::size() const { return impl_->index.size(); }
const std::vector<std::string>& SsdTier::directories() const { return impl_->dirs; }

Status SsdTier::Put(int64_t n, const int64_t* keys, const float* rows) {
  return Exchange(n, keys, rows, 0, nullptr);
}

Status SsdTier::Erase(int64_t n, const int64_t* keys) {
  if (n < 0) return Status::InvalidArgument("SSD tier Erase: n must be >= 0");
  return impl_->ErasePart(n, keys);
}

Status SsdTier::Exchange(int64_t n_put, const int64_t* put_keys, const float* put_rows,
                         int64_t n_erase, const int64_t* erase_keys) {
  if (n_put < 0 || n_erase < 0) {
    return Status::InvalidArgument("SSD tier write: key counts must be >= 0");
  }
  if (n_put > 0) {
    const int64_t fresh = n_put - impl_->CountHeld(n_put, put_keys);
    const int64_t leaving = n_erase > 0 ? impl_->CountHeld(n_erase, erase_keys) : 0;
    const int64_t after = size() - leaving + fresh;
    if (after > capacity()) {
      return Status::ResourceExhausted("SSD tier '" + impl_->options.name + "' is full: capacity " +
                                       std::to_string(capacity()) + ", " + std::to_string(size()) +
                                       " rows held, " + std::to_string(fresh) + " new rows");
    }
  }
  ASC_RETURN_IF_ERROR(impl_->PutPart(n_put, put_keys, put_rows));
  // The put landed; a failed delete only leaves garbage (counted).
  static_cast<void>(impl_->ErasePart(n_erase, erase_keys));
  return Status::OK();
}

Status SsdTier::Get(int64_t n, const int64_t* keys, float* rows_out, bool* found_out) const {
  if (n <= 0) return Status::OK();
  const Impl& im = *impl_;
  std::vector<int64_t> where(static_cast<size_t>(n));
  im.index.FindBatch(n, keys, where.data());
  std::vector<rocksdb::Slice> slices;
  std::vector<int64_t> positions;
  int64_t read = 0;
  for (size_t p = 0; p < im.dirs.size(); ++p) {
    slices.clear();
    positions.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (where[i] != static_cast<int64_t>(p)) continue;
      slices.push_back(KeySlice(keys[i]));
      positions.push_back(i);
    }
    if (slices.empty()) continue;
    const size_t m = slices.size();
    std::vector<rocksdb::PinnableSlice> values(m);
    std::vector<rocksdb::Status> statuses(m);
    im.dbs[p]->MultiGet(rocksdb::ReadOptions(), im.dbs[p]->DefaultColumnFamily(), m, slices.data(),
                        values.data(), statuses.data());
    for (size_t j = 0; j < m; ++j) {
      const int64_t i = positions[j];
      if (!statuses[j].ok()) {
        return Status::Internal("SSD tier read of key " + std::to_string(keys[i]) + " from '" +
                                im.dirs[p] + "' failed: " + statuses[j].ToString());
      }
      if (static_cast<int64_t>(values[j].size()) != im.row_bytes) {
        return Status::Internal("SSD tier read of key " + std::to_string(keys[i]) + " from '" +
                                im.dirs[p] + "': row has " + std::to_string(values[j].size()) +
                                " bytes, expected " + std::to_string(im.row_bytes));
      }
      std::memcpy(rows_out + i * im.options.row_width, values[j].data(),
                  static_cast<size_t>(im.row_bytes));
    }
    read += static_cast<int64_t>(m);
  }
  for (int64_t i = 0; i < n; ++i) found_out[i] = where[i] != KeySlotMap::kNoSlot;
  im.reads.fetch_add(read, std::memory_order_relaxed);
  im.bytes_read.fetch_add(read * im.row_bytes, std::memory_order_relaxed);
  return Status::OK();
}

int SsdTier::PathOf(int64_t key) const {
  int64_t where = KeySlotMap::kNoSlot;
  impl_->index.FindBatch(1, &key, &where);
  return static_cast<int>(where);
}

SsdTierStats SsdTier::stats() const {
  SsdTierStats s;
  s.rows = size();
  s.reads = impl_->reads.load(std::memory_order_relaxed);
  s.bytes_read = impl_->bytes_read.load(std::memory_order_relaxed);
  s.writes = impl_->writes;
  s.bytes_written = impl_->bytes_written;
  s.erase_errors = impl_->erase_errors;
  return s;
}

int64_t SsdTier::memory_bytes() const {
  return impl_->index.memory_bytes() +
         static_cast<int64_t>(impl_->min_free.capacity() * sizeof(int64_t));
}

void SsdTier::SetWriteFaultForTesting(bool on) { impl_->fail_writes = on; }

void SsdTier::SetMinFreeBytesForTesting(size_t path_index, int64_t bytes) {
  if (path_index < impl_->min_free.size()) impl_->min_free[path_index] = bytes;
}

}  // namespace asc
