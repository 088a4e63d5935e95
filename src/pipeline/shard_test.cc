#include "pipeline/shard.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

namespace ha_sync::pipeline {

namespace {

io::Entry E(const std::string& name, io::FileType type) {
  io::Entry e;
  e.name = name;
  e.type = type;
  return e;
}

std::vector<std::string> Names(const std::vector<io::Entry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.name);
  return out;
}

}  // namespace

TEST_CASE("I/N parses within bounds, anything else is refused with the value") {
  ShardSpec s;
  CHECK(ParseShardSpec("0/1", &s).empty());
  CHECK((s.index == 0 && s.count == 1 && !s.sharded()));
  CHECK(ParseShardSpec("6/7", &s).empty());
  CHECK((s.index == 6 && s.count == 7 && s.sharded()));
  CHECK(s.Suffix() == "6-of-7");
  for (const char* bad : {"7/7", "1/0", "-1/3", "1", "1/", "/3", "a/3", "1/3/4", "0/1001", " 1/3", "1/3 "}) {
    CAPTURE(bad);
    const std::string error = ParseShardSpec(bad, &s);
    CHECK(error.find("--shard must be I/N") == 0);
  }
}

TEST_CASE("the hash is FNV-1a of the bytes: fixed values, so every host and build assigns alike") {
  CHECK(Fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(Fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(Fnv1a64("foobar") == 0x85944171f73967e8ULL);
  CHECK(ShardOfDir("anything", 1) == 0);
}

TEST_CASE("every root name has exactly one owner, files in the root go to shard 0") {
  std::vector<io::Entry> src, dest;
  std::vector<StateEntry> state;
  for (int i = 0; i < 200; ++i) {
    src.push_back(E("dir" + std::to_string(i), io::FileType::kDir));
    dest.push_back(E("old" + std::to_string(i), i % 2 ? io::FileType::kDir : io::FileType::kFile));
    StateEntry st;
    st.name = "gone" + std::to_string(i);
    st.type = io::FileType::kDir;
    state.push_back(st);
  }
  src.push_back(E("top-file", io::FileType::kFile));
  src.push_back(E("link", io::FileType::kSymlink));
  // A type change: a directory in src, a file in dest: src decides for both.
  src.push_back(E("flip", io::FileType::kDir));
  dest.push_back(E("flip", io::FileType::kFile));
  for (int n : {1, 2, 3, 7}) {
    CAPTURE(n);
    std::map<std::string, int> owners_src, owners_dest, owners_state;
    std::set<int> used;
    for (int i = 0; i < n; ++i) {
      auto s = src;
      auto d = dest;
      auto st = state;
      FilterRootForShard({i, n}, &s, &d, &st);
      for (const auto& e : s) owners_src[e.name] += 1;
      for (const auto& e : d) owners_dest[e.name] += 1;
      for (const auto& e : st) owners_state[e.name] += 1;
      if (!s.empty()) used.insert(i);
      const auto names = Names(s);
      const bool has_file = std::find(names.begin(), names.end(), "top-file") != names.end();
      CHECK(has_file == (i == 0));
      const auto dnames = Names(d);
      const bool flip_src = std::find(names.begin(), names.end(), "flip") != names.end();
      const bool flip_dest = std::find(dnames.begin(), dnames.end(), "flip") != dnames.end();
      CHECK(flip_src == flip_dest);
      if (flip_src) CHECK(i == ShardOfDir("flip", n));
    }
    CHECK(owners_src.size() == src.size());
    CHECK(owners_dest.size() == dest.size());
    CHECK(owners_state.size() == state.size());
    for (const auto* m : {&owners_src, &owners_dest, &owners_state}) {
      for (const auto& [name, count] : *m) {
        CAPTURE(name);
        CHECK(count == 1);
      }
    }
    CHECK(used.size() == static_cast<size_t>(n));  // 200 directories spread over every shard
  }
}

TEST_CASE("per-shard files are distinct and an unsharded spec keeps the pair's own names") {
  CHECK(ShardStatePath("/l", "p", {}) == StatePath("/l", "p"));
  CHECK(ShardStatePath("/l", "p", {1, 3}) == "/l/state-p.shard-1-of-3.hss");
  const auto all = ShardStatePaths("/l", "p", 3);
  CHECK(all.size() == 3);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == 3);
  CHECK(ShardTempTagsPath("/l", "p", {2, 3}) != ShardTempTagsPath("/l", "p", {1, 3}));
}

TEST_CASE("the group's --max-delete budget is split so that the shards never exceed it") {
  for (int64_t budget : {0, 1, 5, 7, 100, 101}) {
    for (int n : {1, 2, 3, 7}) {
      int64_t total = 0;
      for (int i = 0; i < n; ++i) {
        const int64_t b = ShardDeleteBudget(budget, {i, n});
        CHECK(b >= budget / n);
        total += b;
      }
      CHECK(total == budget);
    }
  }
}

}  // namespace ha_sync::pipeline
