# FindRocksDB: the system RocksDB (e.g. Debian's librocksdb-dev).
# Defines RocksDB_FOUND and the imported target RocksDB::rocksdb.
find_path(ROCKSDB_INCLUDE rocksdb/db.h)
find_library(ROCKSDB_LIB rocksdb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(RocksDB REQUIRED_VARS ROCKSDB_LIB ROCKSDB_INCLUDE)
if(RocksDB_FOUND AND NOT TARGET RocksDB::rocksdb)
  add_library(RocksDB::rocksdb UNKNOWN IMPORTED)
  set_target_properties(RocksDB::rocksdb PROPERTIES
    IMPORTED_LOCATION "${ROCKSDB_LIB}"
    INTERFACE_INCLUDE_DIRECTORIES "${ROCKSDB_INCLUDE}")
endif()
mark_as_advanced(ROCKSDB_INCLUDE ROCKSDB_LIB)
