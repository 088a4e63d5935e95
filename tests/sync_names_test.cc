// Names are bytes: anything Linux allows syncs and is recorded reversibly.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync_harness.h"

namespace ha_sync::test {

TEST_CASE("names with newline, invalid UTF-8, spaces and 255-byte components") {
  TempDir t;
  const std::string names[] = {
      "with\nnewline", "latin1-\xe9t\xe9", "  spaces  ", "tab\there", "-dash", "b64:looks-encoded",
      std::string(255, 'L'), "\xff\xfe", "emoji-\xf0\x9f\x98\x80",
  };
  for (const auto& n : names) WriteFile(t / ("src/" + n), "content of " + n, 1'700'000'000 * kSec);
  WriteFile(t / ("src/" + std::string(255, 'D') + "/" + std::string(200, '\xe9')), "x", 1);
  MakeDirs(t / "dest");
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--verbose"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Describe(t / "src") == Describe(t / "dest"));
  // The opslog holds the exact bytes (decoded back from its text form).
  auto ops = ReadOps(t / "log");
  int found = 0;
  for (const auto& op : ops) {
    for (const auto& n : names) found += op.filepath == n ? 1 : 0;
  }
  CHECK(found == static_cast<int>(std::size(names)));
  // Verbose output escapes control bytes, so one operation stays one line.
  CHECK(r.out.find("with\\nnewline") != std::string::npos);
}

TEST_CASE("paths longer than 1024 bytes (and close to PATH_MAX) sync") {
  TempDir t;
  std::string rel;
  for (int i = 0; i < 16; ++i) rel += std::string(200, static_cast<char>('a' + i)) + "/";
  rel += "leaf";
  REQUIRE(rel.size() > 3000);
  // Build it relative to avoid PATH_MAX limits of the test's own calls.
  MakeDirs(t / "src");
  MakeDirs(t / "dest");
  int fd = ::open((t / "src").c_str(), O_RDONLY | O_DIRECTORY);
  size_t pos = 0;
  while (true) {
    const size_t slash = rel.find('/', pos);
    const std::string part = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (slash == std::string::npos) {
      const int f = ::openat(fd, part.c_str(), O_WRONLY | O_CREAT, 0644);
      REQUIRE(f >= 0);
      REQUIRE(::write(f, "deep", 4) == 4);
      ::close(f);
      break;
    }
    REQUIRE(::mkdirat(fd, part.c_str(), 0755) == 0);
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY);
    ::close(fd);
    fd = next;
    pos = slash + 1;
  }
  ::close(fd);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  bool found = false;
  for (const auto& op : ReadOps(t / "log")) found = found || op.filepath == rel;
  CHECK(found);
  // Compare the leaf through a dirfd walk on dest.
  fd = ::open((t / "dest").c_str(), O_RDONLY | O_DIRECTORY);
  pos = 0;
  std::string content;
  while (true) {
    const size_t slash = rel.find('/', pos);
    const std::string part = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (slash == std::string::npos) {
      const int f = ::openat(fd, part.c_str(), O_RDONLY);
      REQUIRE(f >= 0);
      char buf[8];
      const ssize_t n = ::read(f, buf, sizeof buf);
      content.assign(buf, static_cast<size_t>(n));
      ::close(f);
      break;
    }
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(next >= 0);
    ::close(fd);
    fd = next;
    pos = slash + 1;
  }
  ::close(fd);
  CHECK(content == "deep");
}

TEST_CASE("a file over 4 GiB (sparse source) keeps size, content and holes") {
  TempDir t;
  MakeDirs(t / "src");
  MakeDirs(t / "dest");
  const int64_t size = (int64_t{4} << 30) + 12345;
  const int fd = ::open((t / "src/big.img").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, "head", 4, 0) == 4);
  REQUIRE(::pwrite(fd, "tail", 4, size - 4) == 4);
  ::close(fd);
  SetMtime(t / "src/big.img", 1'700'000'000 * kSec + 42);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  struct stat st;
  REQUIRE(::stat((t / "dest/big.img").c_str(), &st) == 0);
  CHECK(st.st_size == size);
  CHECK(st.st_blocks * 512 < (int64_t{64} << 20));  // holes preserved, not 4 GiB of zeros
  CHECK(MtimeNs(t / "dest/big.img") == 1'700'000'000 * kSec + 42);
  const int in = ::open((t / "dest/big.img").c_str(), O_RDONLY);
  char buf[4];
  REQUIRE(::pread(in, buf, 4, size - 4) == 4);
  CHECK(std::string(buf, 4) == "tail");
  REQUIRE(::pread(in, buf, 4, 0) == 4);
  CHECK(std::string(buf, 4) == "head");
  ::close(in);
  auto ops = ReadOps(t / "log");
  REQUIRE(ops.size() == 1);
  CHECK(ops[0].size_after == size);
  CHECK(ops[0].md5_after->size() == 32);
}

}  // namespace ha_sync::test
