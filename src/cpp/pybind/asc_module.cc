// _libasc: the Python binding of libasc.
//
// Thin by design: argument conversion, GIL release around batched calls, and
// one translation of asc::Status into Python exceptions. Tables belong to the
// TensorFlow sessions that create them (TF resources); this module binds the
// one options struct they are made from (validated here, once, with messages
// naming the Python arguments), the stateless key work, and introspection of
// the tables alive in this process (asc::TableRegistry, which the TF op
// library and this module share through libasc.so).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "asc/checkpoint_reader.h"
#include "asc/key_dedup.h"
#include "asc/table.h"
#include "asc/table_options.h"
#include "asc/table_registry.h"

namespace py = pybind11;

namespace {

using KeyArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// InvalidArgument is the caller's fault (ValueError); the rest is a
// RuntimeError carrying libasc's message.
void ThrowIfError(const asc::Status& s) {
  switch (s.code()) {
    case asc::StatusCode::kOk: return;
    case asc::StatusCode::kInvalidArgument: throw py::value_error(s.message());
    default: throw std::runtime_error(s.message());
  }
}

asc::KeyType ParseKeyType(const std::string& key_dtype) {
  if (key_dtype == "int64") return asc::KeyType::kInt64;
  if (key_dtype == "int32") return asc::KeyType::kInt32;
  throw py::value_error("key_dtype must be tf.int32 or tf.int64, got '" + key_dtype + "'");
}

// A numpy array owning `values` (moved, not copied).
template <typename T>
py::array_t<T> OwningArray(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule free(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free);
}

py::tuple ReadCheckpoint(const std::string& dir, const std::string& name,
                         const std::string& key_dtype, int64_t dim, int64_t expected_rows) {
  asc::CheckpointReadOptions options;
  options.name = name;
  options.key_dtype = ParseKeyType(key_dtype);
  options.dim = dim;
  options.expected_rows = expected_rows;
  asc::CheckpointRows rows;
  asc::Status status;
  {
    py::gil_scoped_release release;
    status = asc::ReadTableCheckpoint(dir, options, &rows);
  }
  ThrowIfError(status);
  const auto n = static_cast<py::ssize_t>(rows.keys.size());
  return py::make_tuple(OwningArray(std::move(rows.keys), {n}),
                        OwningArray(std::move(rows.embedding), {n, static_cast<py::ssize_t>(dim)}));
}

asc::CachePolicy ParseCachePolicy(const std::string& policy) {
  std::string upper = policy;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "LRU") return asc::CachePolicy::kLru;
  if (upper == "LFU") return asc::CachePolicy::kLfu;
  throw py::value_error("cache_policy must be 'LRU' or 'LFU', got '" + policy + "'");
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

py::dict Describe(const asc::Table& table) {
  py::dict d;
  d["name"] = table.name();
  d["size"] = table.size();
  d["capacity"] = table.capacity();
  d["row_width"] = table.row_width();
  d["memory_bytes"] = table.memory_bytes();
  py::dict stats;
  for (const auto& [field, value] : table.stats().Fields()) stats[field] = value;
  d["stats"] = stats;
  d["ssd_directories"] = table.ssd_directories();
  return d;
}

std::vector<std::shared_ptr<asc::Table>> Live(const std::string& name) {
  return name.empty() ? asc::TableRegistry::Global().Live() : asc::TableRegistry::Global().Live(name);
}

}  // namespace

PYBIND11_MODULE(_libasc, m) {
  m.doc() = "libasc: the native core of mx_rec tables";
  m.attr("MAX_DIM") = asc::TableOptions::kMaxDim;
  m.attr("MAX_CAPACITY") = asc::TableOptions::kMaxCapacity;
  m.attr("HOT_REFRESH_STEPS") = asc::TableOptions{}.hot_refresh_steps;
  m.attr("MAX_HOT_REFRESH_STEPS") = asc::TableOptions::kMaxHotRefreshSteps;
  py::list stat_names;
  for (const auto& field : asc::TableStats{}.Fields()) stat_names.append(field.first);
  m.attr("STAT_NAMES") = py::tuple(stat_names);

  py::class_<asc::TableOptions>(m, "TableOptions",
                                "asc::TableOptions: everything fixed when a table is created.\n"
                                "Fields carry create_table's argument names; validate() raises\n"
                                "ValueError naming the field and its allowed range.")
      .def(py::init<>())
      .def_readwrite("name", &asc::TableOptions::name)
      .def_property(
          "key_dtype", [](const asc::TableOptions& o) { return std::string(asc::KeyTypeName(o.key_dtype)); },
          [](asc::TableOptions& o, const std::string& v) { o.key_dtype = ParseKeyType(v); })
      .def_readwrite("dim", &asc::TableOptions::dim)
      .def_readwrite("device_vocabulary_size", &asc::TableOptions::device_vocabulary_size)
      .def_readwrite("dynamic_expansion", &asc::TableOptions::dynamic_expansion)
      .def_readwrite("growth_factor", &asc::TableOptions::growth_factor)
      .def_readwrite("host_vocabulary_size", &asc::TableOptions::host_vocabulary_size)
      .def_readwrite("ssd_vocabulary_size", &asc::TableOptions::ssd_vocabulary_size)
      .def_readwrite("ssd_data_path", &asc::TableOptions::ssd_data_path)
      .def_readwrite("ssd_min_free_bytes", &asc::TableOptions::ssd_min_free_bytes)
      .def_property(
          "cache_policy",
          [](const asc::TableOptions& o) { return std::string(asc::CachePolicyName(o.cache_policy)); },
          [](asc::TableOptions& o, const std::string& v) { o.cache_policy = ParseCachePolicy(v); })
      .def_readwrite("hot_vocabulary_size", &asc::TableOptions::hot_vocabulary_size)
      .def_readwrite("hot_refresh_steps", &asc::TableOptions::hot_refresh_steps)
      .def("validate", [](const asc::TableOptions& o) { ThrowIfError(o.Validate()); })
      .def("serialize", &asc::TableOptions::Serialize)
      .def_static("parse", [](const std::string& text) {
        asc::TableOptions o;
        ThrowIfError(asc::TableOptions::Parse(text, &o));
        return o;
      });

  m.def("dedup", &Dedup, py::arg("keys"), "(unique, counts, restore) of a batch of int64 keys.");
  m.def("read_table_checkpoint", &ReadCheckpoint, py::arg("directory"), py::arg("name"),
        py::arg("key_dtype"), py::arg("dim"), py::arg("expected_rows") = 0,
        "(keys int64 [n], embedding float32 [n, dim]) of table `name`'s checkpoint directory\n"
        "(a delta with its chain), hottest first; expected_rows: room made up front. ValueError when key_dtype or dim differ from the\n"
        "checkpoint's; RuntimeError naming the file when one is missing or damaged.");
  m.def(
      "live_tables",
      [](const std::string& name) {
        py::list out;
        for (const auto& table : Live(name)) out.append(Describe(*table));
        return out;
      },
      py::arg("name") = "",
      "Every table alive in this process (optionally only those named `name`), oldest first:\n"
      "dicts of name, size, capacity, row_width, memory_bytes, stats, ssd_directories.\n"
      "Each TF session owns its own tables, so one name may appear once per session.");
  m.def(
      "set_ssd_write_fault_for_testing",
      [](const std::string& name, bool fail) {
        for (const auto& table : Live(name)) table->SetSsdWriteFaultForTesting(fail);
      },
      py::arg("name"), py::arg("fail"),
      "Makes every SSD write of the live tables named `name` fail (tests of the fault path).");
}
