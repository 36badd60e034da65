#include "asc/ssd_tier.h"

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "asc/key_map.h"

namespace asc {
namespace {

namespace fs = std::filesystem;

constexpr size_t kKeyBytes = sizeof(int64_t);

// Keys are stored as their 8 native bytes: the tier never iterates in key
// order, so the byte order does not matter, only that it is fixed.
rocksdb::Slice KeySlice(const int64_t& key) {
  return rocksdb::Slice(reinterpret_cast<const char*>(&key), kKeyBytes);
}

std::string SanitizeName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "table_" + out;
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

int64_t AvailableBytes(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

}  // namespace

struct SsdTier::Impl {
  SsdTierOptions options;
  int64_t row_bytes = 0;
  std::vector<std::string> dirs;               // <path>/<name>, one per path
  std::vector<std::unique_ptr<rocksdb::DB>> dbs;  // one per path
  std::vector<int64_t> min_free;               // per path
  KeySlotMap index;                            // key -> path index
  bool fail_writes = false;
  rocksdb::WriteOptions write_options;
  // Get may run concurrently with Gets (Table::FindRows under a shared lock).
  mutable std::atomic<int64_t> reads{0};
  mutable std::atomic<int64_t> bytes_read{0};
  int64_t writes = 0;
  int64_t bytes_written = 0;
  int64_t erase_errors = 0;

  ~Impl() {
    for (size_t p = 0; p < dbs.size(); ++p) {
      if (dbs[p] == nullptr) continue;
      dbs[p]->Close().PermitUncheckedError();
      dbs[p].reset();
      std::error_code ec;
      fs::remove_all(dirs[p], ec);  // best effort: a cache, nothing to keep
    }
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
        const int64_t avail = AvailableBytes(dirs[p]);
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
      const rocksdb::Status s = batches[static_cast<size_t>(where[i])].Put(
          KeySlice(keys[i]),
          rocksdb::Slice(reinterpret_cast<const char*>(rows + i * options.row_width),
                         static_cast<size_t>(row_bytes)));
      if (!s.ok()) {
        return Status::Internal("SSD tier write to '" + dirs[static_cast<size_t>(where[i])] +
                                "' failed: " + s.ToString());
      }
    }
    for (size_t p = 0; p < dirs.size(); ++p) {
      if (batches[p].Count() == 0) continue;
      const rocksdb::Status s = dbs[p]->Write(write_options, &batches[p]);
      if (!s.ok()) {
        return Status::Internal("SSD tier write to '" + dirs[p] + "' failed: " + s.ToString());
      }
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
      const rocksdb::Status s = dbs[p]->Write(write_options, &batches[p]);
      if (!s.ok() && result.ok()) {
        result = Status::Internal("SSD tier delete in '" + dirs[p] + "' failed: " + s.ToString());
      }
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
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->row_bytes = options.row_width * static_cast<int64_t>(sizeof(float));
  impl->write_options.disableWAL = true;
  impl->min_free.assign(options.paths.size(), options.min_free_bytes);
  const std::string sub = SanitizeName(options.name);

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  // Point reads and writes only: hash the whole 8-byte key into the memtable
  // instead of keeping it ordered (perf showed the default skiplist's search
  // dominating the tier's CPU time).
  db_options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kKeyBytes));
  db_options.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory());
  db_options.allow_concurrent_memtable_write = false;
  for (const std::string& path : options.paths) {
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
    const std::string dir = (fs::path(path) / sub).string();
    std::error_code ec;
    for (const std::string& other : impl->dirs) {
      if (fs::equivalent(fs::path(other).parent_path(), fs::path(path), ec)) {
        return Status::InvalidArgument("ssd path '" + path + "' is listed twice");
      }
    }
    if (fs::exists(dir, ec)) {
      // Leftover of an earlier process: only ever wipe a RocksDB directory.
      if (!fs::is_directory(dir, ec) ||
          (!fs::is_empty(dir, ec) && !fs::exists(fs::path(dir) / "CURRENT", ec))) {
        return Status::InvalidArgument("ssd path '" + path + "': '" + dir +
                                       "' exists and is not an SSD tier directory");
      }
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, dir, &raw);
    if (!s.ok()) {
      return Status::InvalidArgument("ssd path '" + path + "': cannot open RocksDB in '" + dir +
                                     "': " + s.ToString());
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    // A cache of this process: drop whatever an earlier process left. Keys
    // are exactly 8 bytes, so [ "", 9 x 0xff ) covers them all.
    bool leftover = false;
    {
      rocksdb::ReadOptions all_keys;
      all_keys.total_order_seek = true;  // the prefix extractor would limit a scan
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(all_keys));
      it->SeekToFirst();
      leftover = it->Valid();
    }
    if (leftover) {
      const std::string end(kKeyBytes + 1, '\xff');
      s = db->DeleteRange(impl->write_options, db->DefaultColumnFamily(), rocksdb::Slice(),
                          rocksdb::Slice(end));
    }
    impl->dirs.push_back(dir);
    impl->dbs.push_back(std::move(db));  // owned now: removed on failure below
    if (!s.ok()) {
      return Status::InvalidArgument("ssd path '" + path + "': cannot write to RocksDB in '" +
                                     dir + "': " + s.ToString());
    }
  }
  out->reset(new SsdTier(std::move(impl)));
  return Status::OK();
}

int64_t SsdTier::row_width() const { return impl_->options.row_width; }
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
