// A fresh directory under $TMPDIR (or /tmp) for one test (mode 0755, so a
// child running as another user can reach it), removed with its contents
// by the destructor; the one temp-directory fixture of every test
// program. fd() is an O_DIRECTORY descriptor of it for the *at() calls.
//
// Thread-safety: test code; one owner.
#pragma once

#include <string>

namespace ha_sync::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
  int fd_ = -1;
};

// The bytes of file `path`; empty when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// Removes `path` and everything below it, never following a symlink;
// directories a test made unreadable are made accessible first.
void RemoveTree(const std::string& path);

}  // namespace ha_sync::testing
