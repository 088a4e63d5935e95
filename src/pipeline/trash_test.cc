// The trash folder is ha-sync's own: creating it, from whichever of its two
// users comes first (a file moved in, or the run's undo manifest), never
// changes the dest root's times, and many threads creating it at once make
// one folder.
#include "pipeline/trash.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "io/uring_test_util.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::pipeline {

namespace {

using io::testing::TempDir;

constexpr struct timespec kRootTimes[2] = {{1500000000, 111}, {1600000000, 222}};

void SetRootTimes(int fd) { REQUIRE(::futimens(fd, kRootTimes) == 0); }

void CheckRootTimes(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_mtim.tv_sec == kRootTimes[1].tv_sec);
  CHECK(st.st_mtim.tv_nsec == kRootTimes[1].tv_nsec);
}

}  // namespace

TEST_CASE("the undo manifest creating the trash folder leaves the root's times") {
  TempDir root;
  SetRootTimes(root.fd());
  UndoManifest manifest(root.fd(), "20261126T000000Z-run");
  UndoRecord r;
  r.path = "a/b";
  REQUIRE(manifest.Append(r).ok());
  struct stat st;
  CHECK(::fstatat(root.fd(), kTrashDirName, &st, AT_SYMLINK_NOFOLLOW) == 0);
  CheckRootTimes(root.fd());
}

TEST_CASE("moving a file into a new trash folder leaves the root's times") {
  TempDir root;
  REQUIRE(::mkdirat(root.fd(), "d", 0755) == 0);
  const int d = ::openat(root.fd(), "d", O_RDONLY | O_DIRECTORY);
  REQUIRE(d >= 0);
  io::testing::WriteFile(d, "f", "old");
  SetRootTimes(root.fd());
  Trash trash(root.fd(), "20261126T000000Z-run");
  REQUIRE(trash.MoveIn(d, "d/f").ok());
  ::close(d);
  CheckRootTimes(root.fd());
}

TEST_CASE("many threads opening the trash folder at once: one folder, the root's times kept") {
  TempDir root;
  SetRootTimes(root.fd());
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto fd = OpenTrashFolder(root.fd());
      if (fd.ok()) {
        ++opened;
        ::close(*fd);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(opened == 8);
  CheckRootTimes(root.fd());
}

}  // namespace ha_sync::pipeline
