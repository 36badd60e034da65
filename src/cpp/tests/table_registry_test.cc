#include "asc/table_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace asc {
namespace {

TableOptions Options(const std::string& name, int64_t dim = 4) {
  TableOptions o;
  o.name = name;
  o.dim = dim;
  o.device_capacity = 16;
  return o;
}

TEST(TableRegistryTest, CreateGetDrop) {
  TableRegistry reg;
  std::shared_ptr<Table> t;
  ASSERT_TRUE(reg.Create(Options("user"), &t).ok());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name(), "user");
  EXPECT_EQ(reg.Get("user"), t);
  EXPECT_EQ(reg.Get("item"), nullptr);

  EXPECT_TRUE(reg.Drop("user").ok());
  EXPECT_EQ(reg.Get("user"), nullptr);
  const Status again = reg.Drop("user");
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
  EXPECT_EQ(again.message(), "table 'user' does not exist");

  // A holder keeps a dropped table usable.
  const int64_t key = 3;
  int64_t slot = -1, capacity = 0;
  bool is_new = false;
  EXPECT_TRUE(t->FindOrInsert<int64_t>(1, &key, &slot, &is_new, &capacity).ok());
  EXPECT_EQ(slot, 0);
}

TEST(TableRegistryTest, DuplicateNameLeavesFirstIntact) {
  TableRegistry reg;
  std::shared_ptr<Table> first;
  ASSERT_TRUE(reg.Create(Options("user", 4), &first).ok());
  const int64_t key = 77;
  int64_t slot = -1, capacity = 0;
  bool is_new = false;
  ASSERT_TRUE(first->FindOrInsert<int64_t>(1, &key, &slot, &is_new, &capacity).ok());

  std::shared_ptr<Table> second;
  const Status s = reg.Create(Options("user", 32), &second);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "table 'user' already exists");
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(reg.Get("user"), first);
  EXPECT_EQ(reg.Get("user")->options().dim, 4);
  EXPECT_EQ(reg.Get("user")->size(), 1);
}

TEST(TableRegistryTest, InvalidOptionsRegisterNothing) {
  TableRegistry reg;
  std::shared_ptr<Table> t;
  const Status s = reg.Create(Options("bad", 0), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(reg.Get("bad"), nullptr);
  EXPECT_TRUE(reg.Names().empty());
}

TEST(TableRegistryTest, NamesSortedAndClear) {
  TableRegistry reg;
  std::shared_ptr<Table> t;
  for (const char* name : {"zeta", "alpha", "mid"}) ASSERT_TRUE(reg.Create(Options(name), &t).ok());
  EXPECT_EQ(reg.Names(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  reg.Clear();
  EXPECT_TRUE(reg.Names().empty());
  EXPECT_EQ(reg.Get("alpha"), nullptr);
  EXPECT_EQ(t->name(), "mid");  // still alive through our pointer
  EXPECT_TRUE(reg.Create(Options("alpha"), &t).ok());
}

TEST(TableRegistryTest, GlobalIsOneInstance) {
  TableRegistry& g = TableRegistry::Global();
  EXPECT_EQ(&g, &TableRegistry::Global());
  std::shared_ptr<Table> t;
  ASSERT_TRUE(g.Create(Options("registry_test_global"), &t).ok());
  EXPECT_EQ(TableRegistry::Global().Get("registry_test_global"), t);
  EXPECT_TRUE(g.Drop("registry_test_global").ok());
}

TEST(TableRegistryTest, ConcurrentCreateOfOneNameHasOneWinner) {
  TableRegistry reg;
  std::atomic<int> winners{0}, already{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        std::shared_ptr<Table> t;
        const Status s = reg.Create(Options("shared_" + std::to_string(round)), &t);
        if (s.ok()) ++winners;
        if (s.code() == StatusCode::kAlreadyExists) ++already;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(winners.load(), 50);
  EXPECT_EQ(already.load(), 7 * 50);
  EXPECT_EQ(reg.Names().size(), 50u);
}

}  // namespace
}  // namespace asc
