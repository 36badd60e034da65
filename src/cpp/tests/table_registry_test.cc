// TableRegistry: an index of live tables (weak references) for introspection;
// it neither owns nor creates tables.
#include "asc/table_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace asc {
namespace {

std::shared_ptr<Table> Make(const std::string& name, int64_t dim = 4) {
  TableOptions o;
  o.name = name;
  o.dim = dim;
  o.device_vocabulary_size = 16;
  std::unique_ptr<Table> t;
  const Status s = Table::Create(o, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return std::shared_ptr<Table>(std::move(t));
}

std::vector<const Table*> Pointers(const std::vector<std::shared_ptr<Table>>& tables) {
  std::vector<const Table*> out;
  for (const auto& t : tables) out.push_back(t.get());
  return out;
}

TEST(TableRegistryTest, ListsLiveTablesInTheOrderAdded) {
  TableRegistry reg;
  EXPECT_TRUE(reg.Live().empty());
  auto user = Make("user");
  auto item = Make("item");
  reg.Add(user);
  reg.Add(item);
  EXPECT_EQ(Pointers(reg.Live()), (std::vector<const Table*>{user.get(), item.get()}));
  EXPECT_EQ(Pointers(reg.Live("item")), std::vector<const Table*>{item.get()});
  EXPECT_TRUE(reg.Live("nope").empty());
}

// Tables are owned by their creators: the registry keeps none alive.
TEST(TableRegistryTest, DoesNotKeepTablesAlive) {
  TableRegistry reg;
  auto kept = Make("kept");
  std::weak_ptr<Table> watch;
  {
    auto gone = Make("gone");
    watch = gone;
    reg.Add(gone);
    reg.Add(kept);
    EXPECT_EQ(reg.Live().size(), 2u);
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(Pointers(reg.Live()), std::vector<const Table*>{kept.get()});
  EXPECT_TRUE(reg.Live("gone").empty());
  // Adding after an expiry prunes it and keeps working.
  auto later = Make("later");
  reg.Add(later);
  EXPECT_EQ(Pointers(reg.Live()), (std::vector<const Table*>{kept.get(), later.get()}));
  kept.reset();
  later.reset();
  EXPECT_TRUE(reg.Live().empty());
}

// Every session has its own tables, so names repeat: Live(name) lists all.
TEST(TableRegistryTest, TablesOfOneNameAreAllListed) {
  TableRegistry reg;
  auto first = Make("user", 4);
  auto second = Make("user", 32);
  reg.Add(first);
  reg.Add(second);
  {
    const auto both = reg.Live("user");
    ASSERT_EQ(both.size(), 2u);
    EXPECT_EQ(both[0]->options().dim, 4);
    EXPECT_EQ(both[1]->options().dim, 32);
  }
  second.reset();
  EXPECT_EQ(Pointers(reg.Live("user")), std::vector<const Table*>{first.get()});
}

TEST(TableRegistryTest, GlobalIsOneInstance) {
  TableRegistry& g = TableRegistry::Global();
  EXPECT_EQ(&g, &TableRegistry::Global());
  auto t = Make("registry_test_global");
  g.Add(t);
  EXPECT_EQ(Pointers(TableRegistry::Global().Live("registry_test_global")),
            std::vector<const Table*>{t.get()});
  t.reset();
  EXPECT_TRUE(TableRegistry::Global().Live("registry_test_global").empty());
}

TEST(TableRegistryTest, ConcurrentAddAndList) {
  TableRegistry reg;
  std::atomic<int> errors{0};
  std::vector<std::shared_ptr<Table>> kept(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 50; ++round) {
        auto t = Make("t" + std::to_string(i));
        reg.Add(t);
        if (round == 49) kept[i] = t;  // the others die at once
        for (const auto& live : reg.Live()) {
          if (live == nullptr) ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(reg.Live().size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(Pointers(reg.Live("t" + std::to_string(i))), std::vector<const Table*>{kept[i].get()});
  }
}

}  // namespace
}  // namespace asc
