// How the walk lists a directory below a root (and --bench with it):
// entries sorted by name with lstat attributes, the directory's fd kept for
// opening its children, a symlink in the directory's place refused.
#include "io/dir_reader.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace ha_sync::io {

using ha_sync::testing::TempDir;

TEST_CASE("OpenAndListChild lists a subdirectory sorted, keeps it open, refuses a symlink in its place") {
  TempDir dir;
  REQUIRE(::mkdirat(dir.fd(), "d", 0755) == 0);
  REQUIRE(::mkdirat(dir.fd(), "d/sub", 0755) == 0);
  const int f = ::openat(dir.fd(), "d/b", O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  REQUIRE(f >= 0);
  REQUIRE(::write(f, "12345", 5) == 5);
  ::close(f);
  REQUIRE(::symlinkat("sub", dir.fd(), "d/a") == 0);

  UniqueFd fd;
  std::vector<Entry> entries;
  REQUIRE(OpenAndListChild(dir.fd(), "d", "d", &fd, &entries).ok());
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].name == "a");
  CHECK(entries[0].type == FileType::kSymlink);
  CHECK(entries[0].link_target == "sub");
  CHECK(entries[1].name == "b");
  CHECK(entries[1].type == FileType::kFile);
  CHECK(entries[1].size == 5);
  CHECK(entries[2].type == FileType::kDir);
  REQUIRE(fd.get() >= 0);  // the children open through it
  UniqueFd child;
  CHECK(OpenAndListChild(fd.get(), "sub", "d/sub", &child, &entries).ok());
  CHECK(entries.empty());

  REQUIRE(::symlinkat("d", dir.fd(), "link") == 0);
  UniqueFd refused;
  const Status s = OpenAndListChild(dir.fd(), "link", "link", &refused, &entries);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("link") != std::string::npos);
  CHECK(refused.get() < 0);
}

TEST_CASE("a directory larger than one read lists whole, by either call, and again through the same fd") {
  // OpenAndListChild reads through the fd it opened (no second open: a round
  // trip on NFS); ListDirectory reads through a duplicate. 3,000 long names
  // take several getdents64 reads.
  TempDir dir;
  REQUIRE(::mkdirat(dir.fd(), "d", 0755) == 0);
  const std::string pad(60, 'x');
  for (int i = 0; i < 3000; ++i) {
    const std::string name = "d/" + pad + std::to_string(i);
    const int f = ::openat(dir.fd(), name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(f >= 0);
    ::close(f);
  }
  UniqueFd fd;
  std::vector<Entry> first, second, third;
  REQUIRE(OpenAndListChild(dir.fd(), "d", "d", &fd, &first).ok());
  CHECK(first.size() == 3000);
  CHECK(std::is_sorted(first.begin(), first.end(),
                       [](const Entry& a, const Entry& b) { return a.name < b.name; }));
  REQUIRE(ListDirectory(fd.get(), "d", &second).ok());
  REQUIRE(ListDirectory(fd.get(), "d", &third).ok());
  CHECK(second.size() == 3000);
  CHECK(third.size() == 3000);
  CHECK(second.front().name == first.front().name);
  CHECK(third.back().name == first.back().name);
}

}  // namespace ha_sync::io
