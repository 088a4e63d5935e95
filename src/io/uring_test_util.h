// Test helpers for the io_uring building blocks: a temp directory removed
// with its contents, and one-operation helpers that compare a ring's result
// with the plain syscall's. Test-only (linked into io_test).
//
// Thread-safety: test code, one thread.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "io/uring_ring.h"
#include "support/temp_dir.h"

namespace ha_sync::io::testing {

using ha_sync::testing::TempDir;  // support/temp_dir.h

// A plain syscall's result in the ring's convention: the value, or -errno.
inline int Sys(long rc) { return rc < 0 ? -errno : static_cast<int>(rc); }

// Submits what is queued and returns the result of the one operation `tag`.
inline int Complete(Ring& ring, uint64_t tag) {
  std::vector<Completion> done;
  REQUIRE(ring.SubmitAndReap(1, &done).ok());
  REQUIRE(done.size() == 1);
  CHECK(done[0].tag == tag);
  return done[0].res;
}

inline void WriteFile(int dirfd, const char* name, const std::string& data) {
  const int fd = ::openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  ::close(fd);
}

inline std::string ReadFile(int dirfd, const char* name) {
  const int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace ha_sync::io::testing
