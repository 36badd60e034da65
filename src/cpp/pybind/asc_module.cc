// _libasc: the Python binding of libasc.
//
// Thin by design: argument conversion, GIL release around batched calls, and
// one translation of asc::Status into Python exceptions. Table logic lives in
// the core; the TF op library reaches the same tables through the same
// process-wide registry.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "asc/key_dedup.h"
#include "asc/table.h"
#include "asc/table_registry.h"

namespace py = pybind11;

namespace {

using KeyArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// InvalidArgument/AlreadyExists are the caller's fault (ValueError); a missing
// table is a LookupError; a full tier is a MemoryError-like RuntimeError.
void ThrowIfError(const asc::Status& s) {
  using asc::StatusCode;
  switch (s.code()) {
    case StatusCode::kOk: return;
    case StatusCode::kInvalidArgument:
    case StatusCode::kAlreadyExists: throw py::value_error(s.message());
    case StatusCode::kNotFound: throw py::key_error(s.message());
    default: throw std::runtime_error(s.message());
  }
}

std::shared_ptr<asc::Table> GetTable(const std::string& name) {
  auto table = asc::TableRegistry::Global().Get(name);
  if (!table) throw py::key_error("no libasc table named '" + name + "'");
  return table;
}

asc::KeyType ParseKeyType(const std::string& key_type) {
  if (key_type == "int64") return asc::KeyType::kInt64;
  if (key_type == "int32") return asc::KeyType::kInt32;
  throw py::value_error("key_type must be 'int32' or 'int64', got '" + key_type + "'");
}

asc::DevicePolicy ParseDevicePolicy(const std::string& device_policy) {
  if (device_policy == "lru") return asc::DevicePolicy::kLru;
  if (device_policy == "lfu") return asc::DevicePolicy::kLfu;
  throw py::value_error("device_policy must be 'lru' or 'lfu', got '" + device_policy + "'");
}

void CreateTable(const std::string& name, const std::string& key_type, int64_t dim,
                 int64_t device_capacity, bool dynamic_expansion, double growth_factor,
                 int64_t host_capacity, int64_t row_width, int64_t ssd_capacity,
                 const std::vector<std::string>& ssd_paths, const std::string& device_policy,
                 int64_t hot_capacity, int64_t hot_refresh_steps) {
  asc::TableOptions options;
  options.name = name;
  options.key_type = ParseKeyType(key_type);
  options.dim = dim;
  options.device_capacity = device_capacity;
  options.dynamic_expansion = dynamic_expansion;
  options.growth_factor = growth_factor;
  options.host_capacity = host_capacity;
  options.row_width = row_width;
  options.ssd_capacity = ssd_capacity;
  options.ssd_paths = ssd_paths;
  options.device_policy = ParseDevicePolicy(device_policy);
  options.hot_capacity = hot_capacity;
  options.hot_refresh_steps = hot_refresh_steps;
  std::shared_ptr<asc::Table> table;
  ThrowIfError(asc::TableRegistry::Global().Create(options, &table));
}

py::tuple FindOrInsert(const std::string& name, KeyArray keys) {
  auto table = GetTable(name);
  const int64_t n = keys.size();
  py::array_t<int64_t> slots(n);
  py::array_t<bool> is_new(n);
  int64_t capacity = 0;
  asc::Status s;
  {
    py::gil_scoped_release release;
    s = table->FindOrInsert<int64_t>(n, keys.data(), slots.mutable_data(), is_new.mutable_data(),
                                     &capacity);
  }
  ThrowIfError(s);
  return py::make_tuple(slots, is_new, capacity);
}

py::array_t<int64_t> Find(const std::string& name, KeyArray keys) {
  auto table = GetTable(name);
  py::array_t<int64_t> slots(keys.size());
  {
    py::gil_scoped_release release;
    table->Find<int64_t>(keys.size(), keys.data(), slots.mutable_data());
  }
  return slots;
}

int64_t Erase(const std::string& name, KeyArray keys) {
  auto table = GetTable(name);
  py::gil_scoped_release release;
  return table->Erase<int64_t>(keys.size(), keys.data());
}

py::tuple Snapshot(const std::string& name) {
  auto table = GetTable(name);
  std::vector<int64_t> keys, slots;
  {
    py::gil_scoped_release release;
    table->Snapshot(&keys, &slots);
  }
  return py::make_tuple(py::array_t<int64_t>(keys.size(), keys.data()),
                        py::array_t<int64_t>(slots.size(), slots.data()));
}

py::array_t<int8_t> Locate(const std::string& name, KeyArray keys) {
  auto table = GetTable(name);
  py::array_t<int8_t> tiers(keys.size());
  {
    py::gil_scoped_release release;
    table->Locate(keys.size(), keys.data(), tiers.mutable_data());
  }
  return tiers;
}

py::tuple FindRows(const std::string& name, KeyArray keys) {
  auto table = GetTable(name);
  const int64_t n = keys.size();
  py::array_t<int64_t> slots(n);
  py::array_t<float> rows({n, table->row_width()});
  py::array_t<bool> found(n);
  std::fill_n(rows.mutable_data(), n * table->row_width(), 0.0f);
  asc::Status s;
  {
    py::gil_scoped_release release;
    s = table->FindRows<int64_t>(n, keys.data(), slots.mutable_data(), rows.mutable_data(),
                                 found.mutable_data());
  }
  ThrowIfError(s);
  return py::make_tuple(slots, rows, found);
}

void ConfigureAdmission(const std::string& name, int64_t access_threshold,
                        int64_t eviction_threshold) {
  asc::AdmissionOptions options;
  options.access_threshold = access_threshold;
  options.eviction_threshold = eviction_threshold;
  auto table = GetTable(name);
  ThrowIfError(table->ConfigureAdmission(options));
}
py::tuple ExportAdmission(const std::string& name) {
  auto table = GetTable(name);
  std::vector<int64_t> keys, counts, last_seen;
  asc::Status s;
  {
    py::gil_scoped_release release;
    s = table->ExportAdmission(&keys, &counts, &last_seen);
  }
  ThrowIfError(s);
  return py::make_tuple(py::array_t<int64_t>(keys.size(), keys.data()),
                        py::array_t<int64_t>(counts.size(), counts.data()),
                        py::array_t<int64_t>(last_seen.size(), last_seen.data()));
}
void ImportAdmission(const std::string& name, KeyArray keys, KeyArray counts, KeyArray last_seen) {
  if (counts.size() != keys.size() || last_seen.size() != keys.size()) {
    throw py::value_error("keys, counts and last_seen must have the same length");
  }
  auto table = GetTable(name);
  asc::Status s;
  {
    py::gil_scoped_release release;
    s = table->ImportAdmission(keys.size(), keys.data(), counts.data(), last_seen.data());
  }
  ThrowIfError(s);
}
py::tuple EvictStale(const std::string& name) {
  auto table = GetTable(name);
  std::vector<int64_t> freed;
  int64_t evicted = 0;
  asc::Status s;
  {
    py::gil_scoped_release release;
    s = table->EvictStale(&freed, &evicted);
  }
  ThrowIfError(s);
  return py::make_tuple(py::array_t<int64_t>(freed.size(), freed.data()), evicted);
}
py::dict Stats(const std::string& name) {
  py::dict d;
  for (const auto& [field, value] : GetTable(name)->stats().Fields()) d[field] = value;
  return d;
}

py::tuple Dedup(KeyArray keys) {
  const int64_t n = keys.size();
  std::vector<int64_t> unique(n);
  std::vector<int32_t> counts(n);
  py::array_t<int32_t> restore(n);
  int64_t n_unique = 0;
  {
    py::gil_scoped_release release;
    n_unique = asc::DedupKeys<int64_t>(n, keys.data(), unique.data(), counts.data(),
                                       restore.mutable_data());
  }
  return py::make_tuple(py::array_t<int64_t>(n_unique, unique.data()),
                        py::array_t<int32_t>(n_unique, counts.data()), restore);
}

}  // namespace

PYBIND11_MODULE(_libasc, m) {
  m.doc() = "libasc: key->slot tables of mx_rec (process-wide registry)";
  m.attr("MAX_DIM") = asc::TableOptions::kMaxDim;
  m.attr("MAX_CAPACITY") = asc::TableOptions::kMaxCapacity;
  m.attr("HOT_REFRESH_STEPS") = asc::TableOptions{}.hot_refresh_steps;
  m.attr("MAX_HOT_REFRESH_STEPS") = asc::TableOptions::kMaxHotRefreshSteps;
  m.def("create_table", &CreateTable, py::arg("name"), py::arg("key_type"), py::arg("dim"),
        py::arg("device_capacity"), py::arg("dynamic_expansion") = false,
        py::arg("growth_factor") = 2.0, py::arg("host_capacity") = 0, py::arg("row_width") = 0,
        py::arg("ssd_capacity") = 0, py::arg("ssd_paths") = std::vector<std::string>{},
        py::arg("device_policy") = "lru", py::arg("hot_capacity") = 0,
        py::arg("hot_refresh_steps") = asc::TableOptions{}.hot_refresh_steps,
        "Creates a table in the process-wide registry; ValueError for bad options or a taken name.\n"
        "host_capacity > 0 makes the device tier a cache over a host tier (DDR mode); row_width\n"
        "(0 = dim) is the floats moved per key between tiers: embedding + optimizer state.\n"
        "ssd_capacity > 0 adds an SSD tier (RocksDB under each of ssd_paths) below the host tier.\n"
        "device_policy ('lru' | 'lfu') picks the device tier's victims in DDR/SSD mode: least\n"
        "recently used, or sampled least frequently used; ignored when host_capacity == 0.\n"
        "hot_capacity > 0 (needs host_capacity > 0, < device_capacity) pins up to that many\n"
        "frequently looked-up keys in the device tier, re-chosen every hot_refresh_steps steps.");
  m.def("drop_table", [](const std::string& name) { ThrowIfError(asc::TableRegistry::Global().Drop(name)); },
        py::arg("name"));
  m.def("clear_tables", [] { asc::TableRegistry::Global().Clear(); });
  m.def("table_names", [] { return asc::TableRegistry::Global().Names(); });
  m.def("has_table", [](const std::string& name) { return asc::TableRegistry::Global().Get(name) != nullptr; },
        py::arg("name"));
  m.def("table_size", [](const std::string& name) { return GetTable(name)->size(); }, py::arg("name"));
  m.def("table_capacity", [](const std::string& name) { return GetTable(name)->capacity(); },
        py::arg("name"));
  m.def("table_memory_bytes", [](const std::string& name) { return GetTable(name)->memory_bytes(); },
        py::arg("name"));
  m.def("find_or_insert", &FindOrInsert, py::arg("name"), py::arg("keys"),
        "(slots, is_new, capacity) for unique int64 keys, inserting absent ones.");
  m.def("find", &Find, py::arg("name"), py::arg("keys"), "Slots of keys, -1 where absent.");
  m.def("erase", &Erase, py::arg("name"), py::arg("keys"), "Removes keys; returns how many were held.");
  m.def("snapshot", &Snapshot, py::arg("name"), "(keys, slots) of every entry.");
  m.def("locate", &Locate, py::arg("name"), py::arg("keys"),
        "Tier of each key: 0 device, 1 host, -1 absent.");
  m.def("find_rows", &FindRows, py::arg("name"), py::arg("keys"),
        "(slots, host_rows, found): device slot (-1 if not on the device), the row of keys on the "
        "host tier, and whether the key is held. Never inserts.");
  m.def("configure_admission", &ConfigureAdmission, py::arg("name"), py::arg("access_threshold"),
        py::arg("eviction_threshold") = 0,
        "Turns on feature admission (and eviction when eviction_threshold > 0) for a table.");
  m.def("has_admission", [](const std::string& name) { return GetTable(name)->has_admission(); },
        py::arg("name"));
  m.def("export_admission", &ExportAdmission, py::arg("name"),
        "(keys, counts, last_seen) of every admission record.");
  m.def("import_admission", &ImportAdmission, py::arg("name"), py::arg("keys"), py::arg("counts"),
        py::arg("last_seen"), "Replaces the admission records.");
  m.def("evict_stale", &EvictStale, py::arg("name"),
        "(freed device slots, keys removed): drops keys unseen for eviction_threshold.");
  m.def("stats", &Stats, py::arg("name"), "Counters of the table (keys per tier, hits, moves).");
  py::list stat_names;
  for (const auto& field : asc::TableStats{}.Fields()) stat_names.append(field.first);
  m.attr("STAT_NAMES") = py::tuple(stat_names);
  m.def("set_ssd_write_fault_for_testing",
        [](const std::string& name, bool fail) { GetTable(name)->SetSsdWriteFaultForTesting(fail); },
        py::arg("name"), py::arg("fail"),
        "Makes every SSD write of the table fail (tests of the fault path).");
  m.def("dedup", &Dedup, py::arg("keys"), "(unique, counts, restore) of a batch of int64 keys.");
}
