#include "pipeline/sync_state.h"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace ha_sync::pipeline {

namespace {
std::string TempPath() {
  char templ[] = "/tmp/ha-sync-state-XXXXXX";
  return std::string(::mkdtemp(templ)) + "/state-p.hss";
}
long MaxRssKb() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}
StateEntry E(std::string name, int64_t size, io::FileType type = io::FileType::kFile) {
  StateEntry e;
  e.name = std::move(name);
  e.type = type;
  e.size = size;
  e.mtime_ns = size * 1000 + 7;
  return e;
}
}  // namespace

TEST_CASE("no state file is not an error") {
  auto r = StateReader::Open("/nonexistent/dir/state.hss");
  REQUIRE(r.ok());
  CHECK(*r == nullptr);
}

TEST_CASE("directories round-trip; overrides replace or remove single names") {
  const std::string path = TempPath();
  {
    auto w = StateWriter::Create(path);
    REQUIRE(w.ok());
    REQUIRE((*w)->WriteDir("", {E("b", 2), E("a", 1), E("sub", 0, io::FileType::kDir)}).ok());
    REQUIRE((*w)->WriteDir("sub", {E("x\n\xff", 3)}).ok());
    StateEntry old = E("a", 100);
    (*w)->Override("", "a", &old);      // failed op: the old record stays
    (*w)->Override("", "b", nullptr);   // failed op on an unknown name: not recorded
    (*w)->Override("other", "n", &old); // a directory not written at all
    REQUIRE((*w)->Commit().ok());
  }
  auto r = StateReader::Open(path);
  REQUIRE(r.ok());
  REQUIRE(*r != nullptr);
  std::vector<StateEntry> root;
  REQUIRE((*r)->LoadDir("", &root).ok());
  REQUIRE(root.size() == 2);
  CHECK(root[0].name == "a");
  CHECK(root[0].size == 100);
  CHECK(root[1].name == "sub");
  CHECK(root[1].type == io::FileType::kDir);
  std::vector<StateEntry> sub;
  REQUIRE((*r)->LoadDir("sub", &sub).ok());
  REQUIRE(sub.size() == 1);
  CHECK(sub[0].name == "x\n\xff");
  std::vector<StateEntry> other;
  REQUIRE((*r)->LoadDir("other", &other).ok());
  CHECK(other.size() == 1);
  std::vector<StateEntry> none;
  REQUIRE((*r)->LoadDir("missing", &none).ok());
  CHECK(none.empty());
  std::system(("rm -rf \"$(dirname '" + path + "')\"").c_str());
}

TEST_CASE("an uncommitted writer leaves the old state in place") {
  const std::string path = TempPath();
  {
    auto w = StateWriter::Create(path);
    REQUIRE((*w)->WriteDir("", {E("kept", 1)}).ok());
    REQUIRE((*w)->Commit().ok());
  }
  {
    auto w = StateWriter::Create(path);
    REQUIRE((*w)->WriteDir("", {E("lost", 1)}).ok());
    // destroyed without Commit(): a crashed or failed run
  }
  auto r = StateReader::Open(path);
  std::vector<StateEntry> root;
  REQUIRE((*r)->LoadDir("", &root).ok());
  REQUIRE(root.size() == 1);
  CHECK(root[0].name == "kept");
  std::system(("rm -rf \"$(dirname '" + path + "')\"").c_str());
}

TEST_CASE("a commit that changes nothing keeps the committed file; a change replaces it") {
  // A no-op run writes the same state: it is not fsynced and renamed again.
  const std::string path = TempPath();
  auto write = [&](int64_t size) {
    auto w = StateWriter::Create(path);
    REQUIRE(w.ok());
    REQUIRE((*w)->WriteDir("", {E("a", size), E("d", 0, io::FileType::kDir)}).ok());
    REQUIRE((*w)->WriteDir("d", {E("b", 2)}).ok());
    REQUIRE((*w)->Commit().ok());
  };
  auto inode = [&] {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
  };
  write(1);
  const ino_t first = inode();
  write(1);
  CHECK(inode() == first);
  write(5);
  CHECK(inode() != first);
  auto r = StateReader::Open(path);
  REQUIRE(r.ok());
  std::vector<StateEntry> root;
  REQUIRE((*r)->LoadDir("", &root).ok());
  REQUIRE(root.size() == 2);
  CHECK(root[0].size == 5);
  // No temp file is left beside it.
  const std::string dir = path.substr(0, path.rfind('/'));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);
}

TEST_CASE("a corrupt state file is reported, not trusted") {
  const std::string path = TempPath();
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("not a state file", f);
  std::fclose(f);
  auto r = StateReader::Open(path);
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("corrupt") != std::string::npos);
  std::system(("rm -rf \"$(dirname '" + path + "')\"").c_str());
}

TEST_CASE("1,000,000 entries: reading one directory at a time keeps memory flat") {
  const std::string path = TempPath();
  constexpr int kDirs = 10000, kPerDir = 100;
  {
    auto w = StateWriter::Create(path);
    REQUIRE(w.ok());
    std::vector<StateEntry> entries;
    for (int d = 0; d < kDirs; ++d) {
      entries.clear();
      for (int i = 0; i < kPerDir; ++i) entries.push_back(E("IMG_" + std::to_string(i) + ".jpg", i));
      REQUIRE((*w)->WriteDir("photos/" + std::to_string(d), entries).ok());
    }
    REQUIRE((*w)->Commit().ok());
  }
  const long before_kb = MaxRssKb();
  auto r = StateReader::Open(path);
  REQUIRE(r.ok());
  CHECK((*r)->directories() == kDirs);
  int64_t total = 0;
  std::vector<StateEntry> entries;
  for (int d = 0; d < kDirs; ++d) {
    REQUIRE((*r)->LoadDir("photos/" + std::to_string(d), &entries).ok());
    total += static_cast<int64_t>(entries.size());
  }
  CHECK(total == int64_t{kDirs} * kPerDir);
  const long grown_mb = (MaxRssKb() - before_kb) / 1024;
  MESSAGE("peak RSS growth reading a 1M-entry state: " << grown_mb << " MiB");
  CHECK(grown_mb < 32);  // the index holds directories, not files
  std::system(("rm -rf \"$(dirname '" + path + "')\"").c_str());
}

}  // namespace ha_sync::pipeline
