// Table checkpoints (asc/table_checkpoint.h): files written with POSIX I/O,
// CRC-32 from zlib, the manifest as JSON (nlohmann/json).
#include "asc/table_checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace asc {
namespace {

using json = nlohmann::json;

Status IoError(const std::string& what, const std::string& path) {
  return Status::Internal(what + " '" + path + "': " + std::strerror(errno));
}

// Creates `dir` and its missing parents.
Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return IoError("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::OK() : IoError("cannot fsync", path);
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::OK();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::OK()
                               : Status::InvalidArgument("'" + dir + "' is not a directory");
  }
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) ASC_RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return errno == EEXIST ? Status::OK() : IoError("cannot create", dir);
  }
  // The new directory's entry must survive a power loss too.
  return SyncPath(slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash));
}


std::string Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Removes a directory and the files in it (checkpoint directories are flat).
void RemoveFlatDir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

// A file written sequentially with a running CRC-32. Where the file system
// allows it, data goes through an aligned buffer straight to the disk
// (O_DIRECT): a checkpoint is written once and read rarely, and copying it
// into the page cache (evicting the training job's pages for it) cost more
// than the disk write itself (BENCHMARKS.md section 7). Elsewhere (tmpfs)
// writes are buffered, with writeback started every kWritebackBytes so that
// the final fsync waits for the tail only.
class FileWriter {
 public:
  FileWriter() = default;
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  FileWriter(FileWriter&& other) noexcept { *this = std::move(other); }
  FileWriter& operator=(FileWriter&& other) noexcept {
    std::swap(name_, other.name_);
    std::swap(path_, other.path_);
    std::swap(fd_, other.fd_);
    std::swap(direct_, other.direct_);
    std::swap(buffer_, other.buffer_);
    std::swap(used_, other.used_);
    std::swap(crc_, other.crc_);
    std::swap(size_, other.size_);
    std::swap(written_, other.written_);
    std::swap(flushed_, other.flushed_);
    return *this;
  }
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
    std::free(buffer_);
  }
  Status Open(const std::string& dir, const std::string& name) {
    name_ = name;
    path_ = dir + "/" + name;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd_ < 0) return IoError("cannot create", path_);
    void* buffer = nullptr;
    if (::fcntl(fd_, F_SETFL, O_DIRECT) == 0 &&
        ::posix_memalign(&buffer, kAlign, kBufferBytes) == 0) {
      buffer_ = static_cast<char*>(buffer);
      direct_ = true;
    }
    return Status::OK();
  }
  Status Write(const void* data, size_t bytes) {
    crc_ = ::crc32_z(crc_, static_cast<const Bytef*>(data), bytes);
    size_ += static_cast<int64_t>(bytes);
    if (!direct_) return WriteOut(static_cast<const char*>(data), bytes);
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const size_t n = std::min(bytes, kBufferBytes - used_);
      std::memcpy(buffer_ + used_, p, n);
      used_ += n;
      p += n;
      bytes -= n;
      if (used_ == kBufferBytes) {
        ASC_RETURN_IF_ERROR(WriteOut(buffer_, used_));
        used_ = 0;
      }
    }
    return Status::OK();
  }
  // Writes what is buffered, fsyncs and closes.
  Status Finish() {
    if (direct_ && used_ > 0) {
      // O_DIRECT writes whole blocks: pad the tail, then cut the file back.
      const size_t padded = (used_ + kAlign - 1) / kAlign * kAlign;
      std::memset(buffer_ + used_, 0, padded - used_);
      ASC_RETURN_IF_ERROR(WriteOut(buffer_, padded));
      used_ = 0;
      if (::ftruncate(fd_, size_) != 0) return IoError("cannot truncate", path_);
    }
    const bool synced = ::fsync(fd_) == 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    if (!synced || rc != 0) return IoError("cannot fsync", path_);
    return Status::OK();
  }
  json Entry() const { return {{"name", name_}, {"bytes", size_}, {"crc32", crc_}}; }
  int64_t size() const { return size_; }

 private:
  static constexpr size_t kAlign = 4096;
  static constexpr size_t kBufferBytes = size_t{8} << 20;
  static constexpr int64_t kWritebackBytes = int64_t{8} << 20;

  Status WriteOut(const char* p, size_t bytes) {
    while (bytes > 0) {
      const ssize_t w = ::write(fd_, p, bytes);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EINVAL && direct_) {
          // The file system refused a direct write after all: go on buffered.
          ::fcntl(fd_, F_SETFL, 0);
          direct_ = false;
          continue;
        }
        return IoError("cannot write", path_);
      }
      p += w;
      bytes -= static_cast<size_t>(w);
      written_ += w;
    }
    if (!direct_ && written_ - flushed_ >= kWritebackBytes) {
      ::sync_file_range(fd_, flushed_, written_ - flushed_, SYNC_FILE_RANGE_WRITE);
      flushed_ = written_;
    }
    return Status::OK();
  }

  std::string name_, path_;
  int fd_ = -1;
  bool direct_ = false;
  char* buffer_ = nullptr;  // direct_: kBufferBytes, kAlign-aligned
  size_t used_ = 0;         // bytes of buffer_ not written yet
  uLong crc_ = ::crc32_z(0L, Z_NULL, 0);
  int64_t size_ = 0;     // bytes written by the caller
  int64_t written_ = 0;  // bytes written to the file (direct: padding too)
  int64_t flushed_ = 0;  // bytes whose writeback was started (buffered)
};

// A file read sequentially, checked against its manifest entry.
class FileReader {
 public:
  ~FileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Opens dir/name and checks its size against the manifest's.
  Status Open(const std::string& dir, const json& entry) {
    name_ = entry.at("name").get<std::string>();
    path_ = dir + "/" + name_;
    expected_size_ = entry.at("bytes").get<int64_t>();
    expected_crc_ = entry.at("crc32").get<uint64_t>();
    fd_ = ::open(path_.c_str(), O_RDONLY);
    if (fd_ < 0) {
      return errno == ENOENT ? Status::NotFound("checkpoint file '" + path_ + "' is missing")
                             : IoError("cannot open", path_);
    }
    struct stat st;
    if (::fstat(fd_, &st) != 0) return IoError("cannot stat", path_);
    if (st.st_size != expected_size_) {
      return Status::DataLoss("checkpoint file '" + path_ + "' has " +
                              std::to_string(st.st_size) + " bytes, its manifest says " +
                              std::to_string(expected_size_) + " (truncated or overwritten)");
    }
    return Status::OK();
  }
  Status Read(void* data, size_t bytes) {
    char* p = static_cast<char*>(data);
    size_t left = bytes;
    while (left > 0) {
      const ssize_t r = ::read(fd_, p, left);
      if (r < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot read", path_);
      }
      if (r == 0) return Status::DataLoss("checkpoint file '" + path_ + "' ends early");
      p += r;
      left -= static_cast<size_t>(r);
    }
    crc_ = ::crc32_z(crc_, static_cast<const Bytef*>(data), bytes);
    read_ += static_cast<int64_t>(bytes);
    return Status::OK();
  }
  // Call after reading the whole file.
  Status Verify() const {
    if (read_ != expected_size_ || crc_ != expected_crc_) {
      return Status::DataLoss("checkpoint file '" + path_ + "' fails its CRC-32 check (corrupt)");
    }
    return Status::OK();
  }
  // Reads the rest of the file, then Verify.
  Status ReadRestAndVerify() {
    std::vector<char> buffer(1 << 16);
    while (read_ < expected_size_) {
      const size_t bytes = static_cast<size_t>(
          std::min<int64_t>(static_cast<int64_t>(buffer.size()), expected_size_ - read_));
      ASC_RETURN_IF_ERROR(Read(buffer.data(), bytes));
    }
    return Verify();
  }

 private:
  std::string name_, path_;
  int fd_ = -1;
  int64_t expected_size_ = 0;
  uint64_t expected_crc_ = 0;
  uLong crc_ = ::crc32_z(0L, Z_NULL, 0);
  int64_t read_ = 0;
};

std::string BlockFile(size_t i) { return "block-" + std::to_string(i) + ".bin"; }

Status CheckSchema(const CheckpointSchema& schema, int64_t width) {
  int64_t total = 0;
  for (const CheckpointBlock& b : schema.blocks) total += b.width;
  if (schema.blocks.empty() || schema.blocks[0].width != schema.dim || total != width) {
    return Status::InvalidArgument("checkpoint schema: blocks must start with the embedding (" +
                                   std::to_string(schema.dim) + " floats) and cover the " +
                                   std::to_string(width) + " floats of a row");
  }
  return Status::OK();
}

json SchemaJson(const CheckpointSchema& schema) {
  json blocks = json::array();
  for (const CheckpointBlock& b : schema.blocks) blocks.push_back({{"name", b.name}, {"width", b.width}});
  return {{"key_dtype", KeyTypeName(schema.key_dtype)}, {"dim", schema.dim}, {"blocks", blocks}};
}

// "manifest.crc32": the CRC-32 of manifest.json's bytes, 8 lowercase hex digits.
std::string ManifestCrc(const std::string& text) {
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08lx",
                ::crc32_z(0L, reinterpret_cast<const Bytef*>(text.data()), text.size()));
  return hex;
}

Status WriteFiles(const Table& table, const DeviceRows& rows, const CheckpointSchema& schema,
                  const CheckpointSaveOptions& options, const std::string& tmp,
                  CheckpointSummary* summary) {
  const size_t nblocks = schema.blocks.size();
  const Table::Changes* delta = options.delta;
  FileWriter keys, freq, admission, tombstones;
  std::vector<FileWriter> blocks(nblocks);
  ASC_RETURN_IF_ERROR(keys.Open(tmp, "keys.bin"));
  ASC_RETURN_IF_ERROR(freq.Open(tmp, "freq.bin"));
  for (size_t b = 0; b < nblocks; ++b) ASC_RETURN_IF_ERROR(blocks[b].Open(tmp, BlockFile(b)));
  ASC_RETURN_IF_ERROR(admission.Open(tmp, "admission.bin"));
  ASC_RETURN_IF_ERROR(tombstones.Open(tmp, "tombstones.bin"));
  const Table::Clocks clocks = table.clocks();
  int64_t n = 0;
  std::vector<float> column;
  auto sink = [&](const Table::RowBatch& batch) {
    ASC_RETURN_IF_ERROR(keys.Write(batch.keys, sizeof(int64_t) * batch.n));
    ASC_RETURN_IF_ERROR(freq.Write(batch.freq, sizeof(uint32_t) * batch.n));
    int64_t offset = 0;
    for (size_t b = 0; b < nblocks; ++b) {
      const int64_t w = schema.blocks[b].width;
      column.resize(static_cast<size_t>(batch.n * w));
      for (int64_t i = 0; i < batch.n; ++i) {
        std::copy_n(batch.rows + i * batch.width + offset, w, column.data() + i * w);
      }
      ASC_RETURN_IF_ERROR(blocks[b].Write(column.data(), sizeof(float) * column.size()));
      offset += w;
    }
    n += batch.n;
    return Status::OK();
  };
  if (delta == nullptr) {
    ASC_RETURN_IF_ERROR(table.Export(rows, options.batch, sink));
  } else {
    ASC_RETURN_IF_ERROR(table.ExportKeys(rows, static_cast<int64_t>(delta->touched.size()),
                                         delta->touched.data(), options.batch, sink));
    ASC_RETURN_IF_ERROR(
        tombstones.Write(delta->removed.data(), sizeof(int64_t) * delta->removed.size()));
  }
  int64_t records = 0;
  if (table.has_admission()) {
    std::vector<int64_t> k, c, t;
    ASC_RETURN_IF_ERROR(delta == nullptr
                            ? table.ExportAdmission(&k, &c, &t)
                            : table.ExportAdmissionOf(static_cast<int64_t>(delta->touched.size()),
                                                      delta->touched.data(), &k, &c, &t));
    records = static_cast<int64_t>(k.size());
    std::vector<int64_t> triples(static_cast<size_t>(3 * records));
    for (int64_t i = 0; i < records; ++i) {
      triples[3 * i] = k[i];
      triples[3 * i + 1] = c[i];
      triples[3 * i + 2] = t[i];
    }
    ASC_RETURN_IF_ERROR(admission.Write(triples.data(), sizeof(int64_t) * triples.size()));
  }
  json files = json::array();
  int64_t bytes = 0;
  for (FileWriter* f : {&keys, &freq, &admission, &tombstones}) {
    ASC_RETURN_IF_ERROR(f->Finish());
    files.push_back(f->Entry());
    bytes += f->size();
  }
  for (FileWriter& f : blocks) {
    ASC_RETURN_IF_ERROR(f.Finish());
    files.push_back(f.Entry());
    bytes += f.size();
  }
  const json manifest = {
      {"format", kCheckpointFormat},
      {"format_version", kCheckpointFormatVersion},
      {"kind", delta == nullptr ? "full" : "delta"},
      {"chain", options.chain},
      {"tombstones", delta == nullptr ? 0 : static_cast<int64_t>(delta->removed.size())},
      {"table", table.name()},
      {"schema", SchemaJson(schema)},
      {"options", table.options().Serialize()},
      {"global_step", options.global_step},
      {"created_unix", static_cast<int64_t>(std::time(nullptr))},
      {"rows", n},
      {"admission_records", records},
      {"has_admission", table.has_admission()},
      {"clocks",
       {{"steps", clocks.steps},
        {"admission_time", clocks.admission_time},
        {"admission_steps", clocks.admission_steps}}},
      {"files", files},
  };
  FileWriter out;
  ASC_RETURN_IF_ERROR(out.Open(tmp, "manifest.json"));
  const std::string text = manifest.dump(1);
  ASC_RETURN_IF_ERROR(out.Write(text.data(), text.size()));
  ASC_RETURN_IF_ERROR(out.Finish());
  // The manifest's own checksum, so that no byte of a checkpoint goes unchecked.
  FileWriter check;
  ASC_RETURN_IF_ERROR(check.Open(tmp, "manifest.crc32"));
  const std::string crc = ManifestCrc(text);
  ASC_RETURN_IF_ERROR(check.Write(crc.data(), crc.size()));
  ASC_RETURN_IF_ERROR(check.Finish());
  summary->rows = n;
  summary->admission_records = records;
  summary->tombstones = delta == nullptr ? 0 : static_cast<int64_t>(delta->removed.size());
  summary->bytes = bytes;
  return SyncPath(tmp);
}

Status ReadManifest(const std::string& dir, json* out) {
  const std::string path = dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) {
    struct stat st;
    return ::stat(dir.c_str(), &st) != 0
               ? Status::NotFound("table checkpoint directory '" + dir + "' does not exist")
               : Status::NotFound("table checkpoint '" + dir +
                                  "' has no manifest.json (an unfinished save?)");
  }
  std::stringstream text;
  text << in.rdbuf();
  std::ifstream crc_in(dir + "/manifest.crc32");
  if (!crc_in) {
    return Status::DataLoss("table checkpoint '" + dir + "' has no manifest.crc32");
  }
  std::string crc;
  crc_in >> crc;
  if (crc != ManifestCrc(text.str())) {
    return Status::DataLoss("'" + path + "' does not match its CRC-32 in manifest.crc32 (corrupt)");
  }
  try {
    *out = json::parse(text.str());
    if (out->at("format").get<std::string>() != kCheckpointFormat) {
      return Status::DataLoss("'" + path + "' is not an mx_rec table checkpoint manifest");
    }
    const int version = out->at("format_version").get<int>();
    if (version != kCheckpointFormatVersion) {
      return Status::InvalidArgument("'" + path + "' has format_version " +
                                     std::to_string(version) + "; this mx_rec reads version " +
                                     std::to_string(kCheckpointFormatVersion));
    }
    for (const char* field : {"table", "schema", "rows", "admission_records", "clocks", "files"}) {
      out->at(field);
    }
  } catch (const json::exception& e) {
    return Status::DataLoss("checkpoint manifest '" + path + "' is malformed: " + e.what());
  }
  return Status::OK();
}

// The manifest entry of file `name`.
Status FileEntry(const json& manifest, const std::string& dir, const std::string& name,
                 json* out) {
  for (const json& f : manifest.at("files")) {
    if (f.at("name").get<std::string>() == name) {
      *out = f;
      return Status::OK();
    }
  }
  return Status::DataLoss("checkpoint manifest '" + dir + "/manifest.json' lists no '" + name + "'");
}

// Where each of the table's blocks is in the checkpoint (by name).
Status MatchSchema(const json& manifest, const std::string& dir, const CheckpointSchema& schema,
                   const std::string& table, std::vector<size_t>* source) {
  const json& saved = manifest.at("schema");
  const std::string key_dtype = saved.at("key_dtype").get<std::string>();
  const std::string prefix = "table '" + table + "': checkpoint '" + dir + "' ";
  if (key_dtype != KeyTypeName(schema.key_dtype)) {
    return Status::InvalidArgument(prefix + "has key dtype " + key_dtype + ", the table " +
                                   KeyTypeName(schema.key_dtype));
  }
  const int64_t dim = saved.at("dim").get<int64_t>();
  if (dim != schema.dim) {
    return Status::InvalidArgument(prefix + "has dim " + std::to_string(dim) + ", the table " +
                                   std::to_string(schema.dim));
  }
  const json& blocks = saved.at("blocks");
  std::string have, want;
  for (const json& b : blocks) have += (have.empty() ? "" : ", ") + b.at("name").get<std::string>();
  for (const CheckpointBlock& b : schema.blocks) want += (want.empty() ? "" : ", ") + b.name;
  // Blocks the table lacks are skipped (an eval or predict graph has no
  // optimizer state), like variables a Saver's graph lacks.
  source->clear();
  for (const CheckpointBlock& b : schema.blocks) {
    size_t found = blocks.size();
    for (size_t j = 0; j < blocks.size(); ++j) {
      if (blocks[j].at("name").get<std::string>() == b.name) found = j;
    }
    if (found == blocks.size()) {
      return Status::InvalidArgument(prefix + "holds blocks [" + have + "], the table has [" +
                                     want + "] (the hash optimizers differ)");
    }
    if (blocks[found].at("width").get<int64_t>() != b.width) {
      return Status::InvalidArgument(prefix + "has block '" + b.name + "' of width " +
                                     std::to_string(blocks[found].at("width").get<int64_t>()) +
                                     ", the table " + std::to_string(b.width));
    }
    source->push_back(found);
  }
  return Status::OK();
}

// Imports the rows of checkpoint `dir`; `replace`: its keys may be held
// already (a delta), their old rows are dropped first.
Status ReadRows(const json& manifest, const std::string& dir, const CheckpointSchema& schema,
                const std::vector<size_t>& source, bool replace, Table* table,
                DeviceRows* rows) {
  const int64_t n = manifest.at("rows").get<int64_t>();
  const int64_t width = rows->width();
  const size_t nblocks = schema.blocks.size();
  json entry;
  FileReader keys, freq;
  std::vector<FileReader> blocks(nblocks);
  ASC_RETURN_IF_ERROR(FileEntry(manifest, dir, "keys.bin", &entry));
  ASC_RETURN_IF_ERROR(keys.Open(dir, entry));
  ASC_RETURN_IF_ERROR(FileEntry(manifest, dir, "freq.bin", &entry));
  ASC_RETURN_IF_ERROR(freq.Open(dir, entry));
  for (size_t b = 0; b < nblocks; ++b) {
    ASC_RETURN_IF_ERROR(FileEntry(manifest, dir, BlockFile(source[b]), &entry));
    if (entry.at("bytes").get<int64_t>() != n * schema.blocks[b].width * 4) {
      return Status::DataLoss("checkpoint file '" + dir + "/" + BlockFile(source[b]) +
                              "' does not hold " + std::to_string(n) + " rows");
    }
    ASC_RETURN_IF_ERROR(blocks[b].Open(dir, entry));
  }
  constexpr int64_t kBatch = 1 << 16;
  std::vector<int64_t> k;
  std::vector<uint32_t> f;
  std::vector<float> column, full;
  for (int64_t base = 0; base < n; base += kBatch) {
    const int64_t m = std::min(kBatch, n - base);
    k.resize(static_cast<size_t>(m));
    f.resize(static_cast<size_t>(m));
    full.resize(static_cast<size_t>(m * width));
    ASC_RETURN_IF_ERROR(keys.Read(k.data(), sizeof(int64_t) * m));
    ASC_RETURN_IF_ERROR(freq.Read(f.data(), sizeof(uint32_t) * m));
    int64_t offset = 0;
    for (size_t b = 0; b < nblocks; ++b) {
      const int64_t w = schema.blocks[b].width;
      column.resize(static_cast<size_t>(m * w));
      ASC_RETURN_IF_ERROR(blocks[b].Read(column.data(), sizeof(float) * column.size()));
      for (int64_t i = 0; i < m; ++i) {
        std::copy_n(column.data() + i * w, w, full.data() + i * width + offset);
      }
      offset += w;
    }
    if (replace) table->Erase(m, k.data());
    const Status imported = table->Import(m, k.data(), full.data(), f.data(), rows);
    if (!imported.ok()) {
      // A corrupt keys.bin fails the import (a key repeated, or outside an
      // int32 table's range) before its CRC-32 is checked: report the file.
      ASC_RETURN_IF_ERROR(keys.ReadRestAndVerify());
      return imported;
    }
  }
  ASC_RETURN_IF_ERROR(keys.Verify());
  ASC_RETURN_IF_ERROR(freq.Verify());
  for (const FileReader& b : blocks) ASC_RETURN_IF_ERROR(b.Verify());
  return Status::OK();
}

}  // namespace

Status SaveTableCheckpoint(const Table& table, const DeviceRows& rows,
                           const CheckpointSchema& schema, const CheckpointSaveOptions& options,
                           const std::string& dir, CheckpointSummary* summary) {
  ASC_RETURN_IF_ERROR(CheckSchema(schema, rows.width()));
  if (options.batch <= 0) return Status::InvalidArgument("checkpoint batch must be > 0");
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    return Status::AlreadyExists("table checkpoint '" + dir + "' exists already");
  }
  const std::string parent = Parent(dir);
  ASC_RETURN_IF_ERROR(MakeDirs(parent));
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  RemoveFlatDir(tmp);  // left by an earlier save of this process that failed
  if (::mkdir(tmp.c_str(), 0755) != 0) return IoError("cannot create", tmp);
  CheckpointSummary written;
  Status s = WriteFiles(table, rows, schema, options, tmp, &written);
  if (s.ok() && ::rename(tmp.c_str(), dir.c_str()) != 0) s = IoError("cannot rename " + tmp + " to", dir);
  if (s.ok()) s = SyncPath(parent);
  if (!s.ok()) {
    RemoveFlatDir(tmp);
    return s;
  }
  *summary = written;
  return Status::OK();
}

namespace {

// Reads an int64 file of `count` values listed in the manifest.
Status ReadInt64s(const json& manifest, const std::string& dir, const std::string& name,
                  int64_t count, std::vector<int64_t>* out) {
  json entry;
  ASC_RETURN_IF_ERROR(FileEntry(manifest, dir, name, &entry));
  if (entry.at("bytes").get<int64_t>() != count * 8) {
    return Status::DataLoss("checkpoint file '" + dir + "/" + name + "' does not hold " +
                            std::to_string(count) + " values");
  }
  FileReader reader;
  ASC_RETURN_IF_ERROR(reader.Open(dir, entry));
  out->resize(static_cast<size_t>(count));
  ASC_RETURN_IF_ERROR(reader.Read(out->data(), sizeof(int64_t) * out->size()));
  return reader.Verify();
}

// Loads one checkpoint of a chain: a full one into the empty table, a delta
// on top of what the table holds.
Status LoadOne(const std::string& dir, const json& manifest, const CheckpointSchema& schema,
               Table* table, DeviceRows* rows, CheckpointSummary* summary) {
  const bool delta = manifest.at("kind").get<std::string>() == "delta";
  std::vector<size_t> source;
  ASC_RETURN_IF_ERROR(MatchSchema(manifest, dir, schema, table->name(), &source));
  if (delta) {
    std::vector<int64_t> removed;
    ASC_RETURN_IF_ERROR(ReadInt64s(manifest, dir, "tombstones.bin",
                                   manifest.at("tombstones").get<int64_t>(), &removed));
    table->Erase(static_cast<int64_t>(removed.size()), removed.data());
  }
  ASC_RETURN_IF_ERROR(ReadRows(manifest, dir, schema, source, delta, table, rows));
  const int64_t records = manifest.at("admission_records").get<int64_t>();
  std::vector<int64_t> triples;
  ASC_RETURN_IF_ERROR(ReadInt64s(manifest, dir, "admission.bin", 3 * records, &triples));
  if (table->has_admission()) {
    std::vector<int64_t> k(records), c(records), t(records);
    for (int64_t i = 0; i < records; ++i) {
      k[i] = triples[3 * i];
      c[i] = triples[3 * i + 1];
      t[i] = triples[3 * i + 2];
    }
    ASC_RETURN_IF_ERROR(delta ? table->MergeAdmission(records, k.data(), c.data(), t.data())
                              : table->ImportAdmission(records, k.data(), c.data(), t.data()));
  } else {
    summary->admission_dropped += records;
  }
  const json& clocks = manifest.at("clocks");
  Table::Clocks c;
  c.steps = clocks.at("steps").get<int64_t>();
  c.admission_time = clocks.at("admission_time").get<int64_t>();
  c.admission_steps = clocks.at("admission_steps").get<int64_t>();
  ASC_RETURN_IF_ERROR(table->SetClocks(c));
  summary->admission_records = records;
  return Status::OK();
}

// The directories of `dir`'s chain, full first, `dir` last, with manifests.
Status ResolveChain(const std::string& dir, std::vector<std::string>* dirs,
                    std::vector<json>* manifests) {
  json manifest;
  ASC_RETURN_IF_ERROR(ReadManifest(dir, &manifest));
  const std::string root = Parent(Parent(dir));
  dirs->clear();
  manifests->clear();
  try {
    const std::string kind = manifest.at("kind").get<std::string>();
    if (kind != "full" && kind != "delta") {
      return Status::DataLoss("checkpoint '" + dir + "' has unknown kind '" + kind + "'");
    }
    const auto chain = manifest.value("chain", std::vector<std::string>());
    if ((kind == "delta") == chain.empty()) {
      return Status::DataLoss("checkpoint '" + dir + "': a delta needs a chain, a full one none");
    }
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string link = root + "/" + chain[i];
      json m;
      const Status s = ReadManifest(link, &m);
      if (!s.ok()) {
        return Status(s.code(), "delta checkpoint '" + dir + "' builds on '" + link +
                                    "', which cannot be read: " + s.message());
      }
      if (m.at("kind").get<std::string>() != (i == 0 ? "full" : "delta")) {
        return Status::DataLoss("delta checkpoint '" + dir + "': its chain link '" + link +
                                "' is not a " + (i == 0 ? "full" : "delta") + " checkpoint");
      }
      dirs->push_back(link);
      manifests->push_back(std::move(m));
    }
  } catch (const json::exception& e) {
    return Status::DataLoss("checkpoint manifest '" + dir + "/manifest.json' is malformed: " +
                            e.what());
  }
  dirs->push_back(dir);
  manifests->push_back(std::move(manifest));
  return Status::OK();
}

}  // namespace

Status LoadTableCheckpoint(const std::string& dir, const CheckpointSchema& schema, Table* table,
                           DeviceRows* rows, CheckpointSummary* summary) {
  ASC_RETURN_IF_ERROR(CheckSchema(schema, rows->width()));
  std::vector<std::string> dirs;
  std::vector<json> manifests;
  ASC_RETURN_IF_ERROR(ResolveChain(dir, &dirs, &manifests));
  *summary = CheckpointSummary();
  try {
    for (size_t i = 0; i < dirs.size(); ++i) {
      ASC_RETURN_IF_ERROR(LoadOne(dirs[i], manifests[i], schema, table, rows, summary));
    }
  } catch (const json::exception& e) {
    return Status::DataLoss("checkpoint manifest under '" + dir + "' is malformed: " + e.what());
  }
  summary->rows = table->size();
  return Status::OK();
}

}  // namespace asc
