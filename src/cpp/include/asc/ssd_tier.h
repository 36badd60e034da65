// SsdTier: the SSD tier of one table: rows of `row_width` floats keyed by an
// int64 key, held in RocksDB databases on local disks.
//
// Role: a cache of the current process, not a checkpoint. Open creates a
// new directory of its own under each configured path, atomically and under
// a unique name (mkdtemp: <path>/mx_rec_ssd.<sanitised name>.XXXXXX; the name
// is only there for humans), so any number of tiers, of the same name or of
// names that sanitise alike, from this process or others, can share a path.
// The tier never opens, writes into or deletes a directory it did not
// create, and its destructor removes exactly the directories it created
// (only while they are still the ones it created: a directory removed and
// replaced from outside is left alone). A crash leaves its directories
// behind; nothing reuses them. Writes skip the WAL (a crash loses the tier,
// which is fine: the process that owned it is gone too).
//
// Placement: new keys go to the first path (in the given order) whose file
// system has at least min_free_bytes available (statvfs, checked on every
// write that adds keys); when every path is below its threshold a write is
// ResourceExhausted naming the paths. A key already held is overwritten in
// the path that holds it.
//
// Index: an in-memory KeySlotMap key -> path index says which path holds each
// key (16 bytes per bucket), so Get reads one database per key, an absent key
// costs no disk read, and size() is exact. The index is the source of truth:
// data on disk that the index does not name (left by a failed write or a
// failed delete) is unreachable garbage, removed with the directory.
//
// Error model:
//   Put is all-or-nothing as far as the index is concerned: on error no key
//     is added, and the caller still owns its rows (nothing in memory is
//     lost). An overwritten key whose write failed may read back either value.
//   Erase always forgets the keys; if the deletes could not be written it
//     returns Internal, but the keys stay erased (their bytes become garbage).
//   Exchange = Put then Erase, with the capacity checked on the net change;
//     if the Put part fails, nothing is erased.
//   A RocksDB error is Internal naming the directory and RocksDB's message,
//     except that a full file system (ENOSPC, which the min_free_bytes check
//     normally pre-empts) makes Put/Exchange ResourceExhausted. After one,
//     RocksDB refuses writes to that directory until it sees enough free
//     space again (it re-checks every few seconds); reads keep working.
//   A directory that was removed (or replaced) from outside, directly or
//     with its path, fails with Internal saying it no longer exists, before
//     anything is written, every later write that would write to it or that
//     adds keys and reaches it while looking for a path with room (a
//     vanished path is reported, not skipped).
//   The destructor never throws or aborts, whatever state the disk is in
//     (full, read-only, directory gone): it writes nothing, and what it
//     cannot remove stays behind.
//
// Thread-safety: none, except that Get (and the const accessors) may run
// concurrently with other Gets. The owner (Table) serialises everything else.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "asc/status.h"

namespace asc {

struct SsdTierOptions {
  // Directories that must exist and be writable; at least one.
  std::vector<std::string> paths;
  // Part of the directory name created under each path (for humans only;
  // uniqueness comes from mkdtemp): sanitised to [A-Za-z0-9_.-], cut to 128
  // characters.
  std::string name;
  // Floats per row, >= 1.
  int64_t row_width = 0;
  // Maximum rows held, >= 1.
  int64_t capacity = 0;
  // A path whose file system has fewer bytes available takes no new keys.
  int64_t min_free_bytes = int64_t{256} << 20;
};

struct SsdTierStats {
  int64_t rows = 0;           // keys held now
  int64_t reads = 0;          // rows read (cumulative)
  int64_t writes = 0;         // rows written (cumulative)
  int64_t bytes_read = 0;     // row bytes read
  int64_t bytes_written = 0;  // row bytes written
  int64_t erase_errors = 0;   // Erase calls whose deletes failed (garbage left)
};

class SsdTier {
 public:
  // Validates options (every path before creating anything), creates a new
  // directory <path>/mx_rec_ssd.<name>.XXXXXX under every path and opens a
  // database in each. InvalidArgument naming the path when a path is
  // missing, not a directory, not writable, listed twice, or the directory
  // or its database cannot be created there; ResourceExhausted naming the
  // path when its file system is full. Whatever was created is removed
  // again.
  static Status Open(const SsdTierOptions& options, std::unique_ptr<SsdTier>* out);
  // Closes the databases (without flushing them) and removes the
  // directories Open created. Never throws or aborts.
  ~SsdTier();
  SsdTier(const SsdTier&) = delete;
  SsdTier& operator=(const SsdTier&) = delete;

  int64_t row_width() const;
  // Changes the row width of an empty tier (a table whose optimizer state
  // joined before any row left the device). FailedPrecondition when the tier
  // holds rows, InvalidArgument for row_width < 1.
  Status SetRowWidth(int64_t row_width);
  int64_t capacity() const;
  int64_t size() const;
  // The directories Open created, one per path, in path order:
  // <paths[i]>/mx_rec_ssd.<sanitised name>.<6 random characters>.
  const std::vector<std::string>& directories() const;

  // Stores keys[i] -> rows[i*row_width, (i+1)*row_width). Keys must be
  // unique. ResourceExhausted when the new keys exceed capacity or no path
  // has free space; Internal on a write error. See the error model above.
  Status Put(int64_t n, const int64_t* keys, const float* rows);

  // found_out[i] = whether keys[i] is held; if so its row is copied to
  // rows_out + i * row_width (other rows untouched). One MultiGet per path.
  Status Get(int64_t n, const int64_t* keys, float* rows_out, bool* found_out) const;

  // Forgets keys (absent ones are ignored); deletes their bytes in one
  // WriteBatch per path.
  Status Erase(int64_t n, const int64_t* keys);

  // Put(n_put, ...) then Erase(n_erase, ...), keys of both disjoint; the
  // capacity check counts the erased keys as already gone.
  Status Exchange(int64_t n_put, const int64_t* put_keys, const float* put_rows, int64_t n_erase,
                  const int64_t* erase_keys);

  // Index of the path holding `key`, or -1.
  int PathOf(int64_t key) const;

  SsdTierStats stats() const;
  // Heap bytes held by the index and bookkeeping (not RocksDB's caches).
  int64_t memory_bytes() const;

  // Test hooks. While on, every write (Put, Erase, Exchange) fails with
  // Internal before touching the disk.
  void SetWriteFaultForTesting(bool on);
  // Overrides min_free_bytes for one path.
  void SetMinFreeBytesForTesting(size_t path_index, int64_t bytes);

 private:
  struct Impl;
  explicit SsdTier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace asc
