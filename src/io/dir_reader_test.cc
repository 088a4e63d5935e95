// How the walk lists a directory below a root (and --bench with it):
// entries sorted by name with lstat attributes, the directory's fd kept for
// opening its children, a symlink in the directory's place refused.
#include "io/dir_reader.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace ha_sync::io
