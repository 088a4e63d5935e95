#include "pipeline/temp_tags.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "io/file_ops.h"
#include "io/unique_fd.h"

namespace ha_sync::pipeline {

namespace {

constexpr size_t kLineBytes = 9;  // 8 hex digits and '\n'

Status ReadAll(const std::string& path, std::string* data) {
  io::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno(errno, "open temp tags", path);
  }
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) data->append(buf, static_cast<size_t>(n));
  if (n < 0) return Status::FromErrno(errno, "read temp tags", path);
  return Status::Ok();
}

Status WriteAllSynced(int fd, const std::string& data, const std::string& path) {
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return Status::FromErrno(errno, "write temp tags", path);
  }
  if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync temp tags", path);
  return Status::Ok();
}

// Keeps the newest kKeptTags lines (temp file, fsync, rename).
Status Trim(const std::string& path) {
  std::string data;
  Status s = ReadAll(path, &data);
  if (!s.ok()) return s;
  const size_t keep = kKeptTags * kLineBytes;
  if (data.size() <= keep) return Status::Ok();
  size_t from = data.size() - keep;
  while (from > 0 && data[from - 1] != '\n') ++from;  // whole lines only
  const std::string tmp = path + ".trim";
  io::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::FromErrno(errno, "create", tmp);
  s = WriteAllSynced(fd.get(), data.substr(from), tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Status::FromErrno(errno, "rename", tmp);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace

std::string TempTagsPath(const std::string& log_dir, const std::string& pair) {
  return log_dir + "/temp-tags-" + pair;
}

Result<uint32_t> RegisterTempTag(const std::string& path) {
  uint32_t tag = 0;
  while (tag == 0) tag = static_cast<uint32_t>(io::RandomU64());
  char line[16];
  std::snprintf(line, sizeof line, "%08x\n", tag);
  {
    io::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd.get() < 0) return Status::FromErrno(errno, "open temp tags", path);
    // After a torn last line (a crash mid-write) the new tag starts a line of its own.
    std::string text = line;
    struct stat before;
    char last = '\n';
    if (::fstat(fd.get(), &before) == 0 && before.st_size > 0 &&
        ::pread(fd.get(), &last, 1, before.st_size - 1) == 1 && last != '\n') {
      text.insert(0, "\n");
    }
    Status s = WriteAllSynced(fd.get(), text, path);
    if (!s.ok()) return s;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat temp tags", path);
    if (static_cast<size_t>(st.st_size) <= 2 * kKeptTags * kLineBytes) return tag;
  }
  Status s = Trim(path);
  if (!s.ok()) return s;
  return tag;
}

Result<std::vector<uint32_t>> LoadTempTags(const std::string& path) {
  std::string data;
  Status s = ReadAll(path, &data);
  if (!s.ok()) return s;
  std::vector<uint32_t> tags;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) break;  // a torn last line: never a whole tag
    const std::string hex = data.substr(pos, end - pos);
    pos = end + 1;
    if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    tags.push_back(static_cast<uint32_t>(std::stoul(hex, nullptr, 16)));
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

bool IsOwnTemp(const io::Entry& e, const std::vector<uint32_t>& own_tags) {
  if (e.type == io::FileType::kDir || !io::IsSyncTempName(e.name)) return false;
  const uint32_t tag = io::SyncTempTag(e.name);
  return tag != 0 && std::binary_search(own_tags.begin(), own_tags.end(), tag);
}

}  // namespace ha_sync::pipeline
