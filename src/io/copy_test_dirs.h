// The fixture of the copier tests (file_copy_test.cc, uring_copier_test.cc):
// a fresh temp directory with a source folder "s" and a destination folder
// "d", both open as directory descriptors. Test-only (linked into io_test).
//
// Thread-safety: test code, one thread.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "io/dir_reader.h"
#include "support/temp_dir.h"

namespace ha_sync::io::testing {

struct CopyDirs {
  ha_sync::testing::TempDir tmp;
  int src = -1;
  int dest = -1;

  CopyDirs() {
    REQUIRE(::mkdirat(tmp.fd(), "s", 0755) == 0);
    REQUIRE(::mkdirat(tmp.fd(), "d", 0755) == 0);
    src = ::openat(tmp.fd(), "s", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dest = ::openat(tmp.fd(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(src >= 0);
    REQUIRE(dest >= 0);
  }
  ~CopyDirs() {
    ::close(src);
    ::close(dest);
  }
  CopyDirs(const CopyDirs&) = delete;
  CopyDirs& operator=(const CopyDirs&) = delete;

  // Writes `data` to s/`name` (O_TRUNC, or O_APPEND to grow it).
  void Write(const std::string& name, const std::string& data, int flags = O_TRUNC) {
    const int fd = ::openat(src, name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0640);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  // The bytes of d/`name`; empty when it does not exist.
  std::string ReadDest(const std::string& name) {
    const int fd = ::openat(dest, name.c_str(), O_RDONLY | O_CLOEXEC);
    std::string out;
    char buf[65536];
    ssize_t n;
    while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (fd >= 0) ::close(fd);
    return out;
  }
  std::vector<std::string> DestNames() {
    std::vector<Entry> entries;
    REQUIRE(ListDirectory(dest, "d", &entries).ok());
    std::vector<std::string> names;
    for (const Entry& e : entries) names.push_back(e.name);
    return names;
  }
  size_t DestEntries() { return DestNames().size(); }
};

}  // namespace ha_sync::io::testing
