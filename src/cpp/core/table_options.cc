#include "asc/table_options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace asc {

const char* KeyTypeName(KeyType t) {
  switch (t) {
    case KeyType::kInt32:
      return "int32";
    case KeyType::kInt64:
      return "int64";
  }
  return "unknown";
}

const char* CachePolicyName(CachePolicy p) {
  switch (p) {
    case CachePolicy::kLru:
      return "LRU";
    case CachePolicy::kLfu:
      return "LFU";
  }
  return "unknown";
}

namespace {

std::string OutOfRange(const char* field, int64_t low, int64_t high, int64_t got) {
  return std::string(field) + " must be in [" + std::to_string(low) + ", " + std::to_string(high) +
         "], got " + std::to_string(got);
}

}  // namespace

Status TableOptions::Validate() const {
  if (name.empty()) return Status::InvalidArgument("name must be a non-empty string");
  const std::string where = " (table '" + name + "')";
  if (key_dtype != KeyType::kInt32 && key_dtype != KeyType::kInt64) {
    return Status::InvalidArgument("key_dtype must be int32 or int64, got " +
                                   std::to_string(static_cast<int>(key_dtype)) + where);
  }
  if (dim < 1 || dim > kMaxDim) return Status::InvalidArgument(OutOfRange("dim", 1, kMaxDim, dim) + where);
  if (device_vocabulary_size < 1 || device_vocabulary_size > kMaxCapacity) {
    return Status::InvalidArgument(
        OutOfRange("device_vocabulary_size", 1, kMaxCapacity, device_vocabulary_size) + where);
  }
  // Written so that NaN fails too.
  if (!(growth_factor > 1.0) || !std::isfinite(growth_factor)) {
    char shown[32];
    std::snprintf(shown, sizeof(shown), "%g", growth_factor);
    return Status::InvalidArgument("growth_factor must be a finite number > 1, got " +
                                   std::string(shown) + where);
  }
  if (host_vocabulary_size < 0 || host_vocabulary_size > kMaxCapacity) {
    return Status::InvalidArgument(
        OutOfRange("host_vocabulary_size", 0, kMaxCapacity, host_vocabulary_size) + where);
  }
  if (host_vocabulary_size > 0 && dynamic_expansion) {
    return Status::InvalidArgument(
        "dynamic_expansion must be false when host_vocabulary_size > 0: with a host tier the "
        "device tier is a fixed-size cache" + where);
  }
  if (cache_policy != CachePolicy::kLru && cache_policy != CachePolicy::kLfu) {
    return Status::InvalidArgument("cache_policy must be LRU or LFU, got " +
                                   std::to_string(static_cast<int>(cache_policy)) + where);
  }
  if (hot_vocabulary_size < 0 || hot_vocabulary_size >= device_vocabulary_size) {
    return Status::InvalidArgument(
        OutOfRange("hot_vocabulary_size", 0, device_vocabulary_size - 1, hot_vocabulary_size) +
        " (below device_vocabulary_size)" + where);
  }
  if (hot_vocabulary_size > 0 && host_vocabulary_size == 0) {
    return Status::InvalidArgument(
        "hot_vocabulary_size > 0 (hot_embedding) needs a host tier (host_vocabulary_size > 0): "
        "without one every key stays on the device" + where);
  }
  if (hot_refresh_steps < 1 || hot_refresh_steps > kMaxHotRefreshSteps) {
    return Status::InvalidArgument(
        OutOfRange("hot_refresh_steps", 1, kMaxHotRefreshSteps, hot_refresh_steps) + where);
  }
  if (ssd_vocabulary_size < 0 || ssd_vocabulary_size > kMaxCapacity) {
    return Status::InvalidArgument(
        OutOfRange("ssd_vocabulary_size", 0, kMaxCapacity, ssd_vocabulary_size) + where);
  }
  if (ssd_vocabulary_size == 0) {
    if (!ssd_data_path.empty()) {
      return Status::InvalidArgument("ssd_data_path is only used with ssd_vocabulary_size > 0" +
                                     where);
    }
    return Status::OK();
  }
  if (host_vocabulary_size == 0) {
    return Status::InvalidArgument(
        "ssd_vocabulary_size > 0 needs a host tier: host_vocabulary_size must be > 0 too" + where);
  }
  if (ssd_data_path.empty()) {
    return Status::InvalidArgument(
        "ssd_data_path must name at least one directory when ssd_vocabulary_size > 0" + where);
  }
  if (ssd_min_free_bytes < 0) {
    return Status::InvalidArgument("ssd_min_free_bytes must be >= 0, got " +
                                   std::to_string(ssd_min_free_bytes) + where);
  }
  for (const std::string& path : ssd_data_path) {
    struct stat st;
    if (path.empty() || stat(path.c_str(), &st) != 0) {
      return Status::InvalidArgument("ssd_data_path: '" + path + "' does not exist" + where);
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("ssd_data_path: '" + path + "' is not a directory" + where);
    }
    if (access(path.c_str(), W_OK | X_OK) != 0) {
      return Status::InvalidArgument("ssd_data_path: '" + path + "' is not writable" + where);
    }
  }
  return Status::OK();
}

// ---- text form --------------------------------------------------------------
// "field=value;" pairs in a fixed order; ssd_data_path repeats. Values are
// escaped so paths may hold any byte: '%', ';' and '=' become %XX.

namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == ';' || c == '=') {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", static_cast<unsigned char>(c));
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

bool Unescape(const std::string& s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      *out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return false;
    }
    *out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return true;
}

bool ParseInt(const std::string& s, int64_t* out) {
  // Exactly what std::to_string writes: an optional '-' and digits.
  const size_t digits = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (s.size() == digits) return false;
  for (size_t i = digits; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

std::string TableOptions::Serialize() const {
  char growth[40];
  std::snprintf(growth, sizeof(growth), "%.17g", growth_factor);
  std::string out = "name=" + Escape(name) + ";key_dtype=" + KeyTypeName(key_dtype) +
                    ";dim=" + std::to_string(dim) +
                    ";device_vocabulary_size=" + std::to_string(device_vocabulary_size) +
                    ";dynamic_expansion=" + (dynamic_expansion ? "1" : "0") +
                    ";growth_factor=" + growth +
                    ";host_vocabulary_size=" + std::to_string(host_vocabulary_size) +
                    ";ssd_vocabulary_size=" + std::to_string(ssd_vocabulary_size) +
                    ";ssd_min_free_bytes=" + std::to_string(ssd_min_free_bytes) +
                    ";cache_policy=" + CachePolicyName(cache_policy) +
                    ";hot_vocabulary_size=" + std::to_string(hot_vocabulary_size) +
                    ";hot_refresh_steps=" + std::to_string(hot_refresh_steps) + ";";
  for (const std::string& path : ssd_data_path) out += "ssd_data_path=" + Escape(path) + ";";
  return out;
}

Status TableOptions::Parse(const std::string& text, TableOptions* out) {
  TableOptions o;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find(';', pos);
    const size_t eq = text.find('=', pos);
    if (end == std::string::npos || eq == std::string::npos || eq > end) {
      return Status::InvalidArgument("table options: malformed text at offset " +
                                     std::to_string(pos));
    }
    const std::string field = text.substr(pos, eq - pos);
    std::string value;
    if (!Unescape(text.substr(eq + 1, end - eq - 1), &value)) {
      return Status::InvalidArgument("table options: bad escape in field '" + field + "'");
    }
    pos = end + 1;
    bool ok = true;
    if (field == "name") {
      o.name = value;
    } else if (field == "key_dtype") {
      ok = value == "int32" || value == "int64";
      o.key_dtype = value == "int32" ? KeyType::kInt32 : KeyType::kInt64;
    } else if (field == "dim") {
      ok = ParseInt(value, &o.dim);
    } else if (field == "device_vocabulary_size") {
      ok = ParseInt(value, &o.device_vocabulary_size);
    } else if (field == "dynamic_expansion") {
      ok = value == "0" || value == "1";
      o.dynamic_expansion = value == "1";
    } else if (field == "growth_factor") {
      char* stop = nullptr;
      o.growth_factor = std::strtod(value.c_str(), &stop);
      ok = !value.empty() && stop == value.c_str() + value.size();
    } else if (field == "host_vocabulary_size") {
      ok = ParseInt(value, &o.host_vocabulary_size);
    } else if (field == "ssd_vocabulary_size") {
      ok = ParseInt(value, &o.ssd_vocabulary_size);
    } else if (field == "ssd_min_free_bytes") {
      ok = ParseInt(value, &o.ssd_min_free_bytes);
    } else if (field == "cache_policy") {
      ok = value == "LRU" || value == "LFU";
      o.cache_policy = value == "LFU" ? CachePolicy::kLfu : CachePolicy::kLru;
    } else if (field == "hot_vocabulary_size") {
      ok = ParseInt(value, &o.hot_vocabulary_size);
    } else if (field == "hot_refresh_steps") {
      ok = ParseInt(value, &o.hot_refresh_steps);
    } else if (field == "ssd_data_path") {
      o.ssd_data_path.push_back(value);
    } else {
      return Status::InvalidArgument("table options: unknown field '" + field + "'");
    }
    if (!ok) {
      return Status::InvalidArgument("table options: bad value '" + value + "' for field '" +
                                     field + "'");
    }
  }
  *out = std::move(o);
  return Status::OK();
}

}  // namespace asc
